#!/usr/bin/env bash
# The virtual-gateway harness itself, on a hand-made disk (sgdisk GPT, FAT
# ESP written with mtools, GRUB EFI from grub-mkimage): OVMF boots GRUB,
# GRUB runs grub.cfg, save_env on the FAT ESP persists across qemu runs and
# agrees with grub-editenv on the host both ways; the harness tells
# poweroff, reboot, watchdog reset and hang apart.
source "$(dirname "$0")/../lib/common.sh"
source "$TOP/tests/lib/gateway.sh"

disk=$T/disk.img
esp=$T/esp.img
truncate -s 40M "$disk"
sgdisk -n 1:2048:+32M -t 1:ef00 -c 1:esp "$disk" >/dev/null
# FAT16: mtools cannot make directories on a FAT32 this small (fewer
# clusters than FAT32 needs, so it takes it for FAT16 with no root slots).
truncate -s 32M "$esp"
mkfs.vfat -F 16 "$esp" >/dev/null
mmd -i "$esp" ::/EFI ::/EFI/BOOT
gw_grub_efi "$T/BOOTX64.EFI"
mcopy -i "$esp" "$T/BOOTX64.EFI" ::/EFI/BOOT/
# A counter in GRUB's way (no arithmetic: an if chain), saved before the
# "kernel" would run, and a host-set variable GRUB only reads.
cat >"$T/grub.cfg" <<'EOF'
set timeout=0
load_env --file /EFI/BOOT/grubenv COUNT HOSTVAR
echo "gw: count=$COUNT hostvar=$HOSTVAR"
if [ "$COUNT" = 0 ]; then set COUNT=1
elif [ "$COUNT" = 1 ]; then set COUNT=2
else set COUNT=bad; fi
save_env --file /EFI/BOOT/grubenv COUNT
echo "gw: saved count=$COUNT"
if [ "$COUNT" = 1 ]; then reboot; fi
halt
EOF
grub-editenv "$T/grubenv" create
grub-editenv "$T/grubenv" set COUNT=0
mcopy -i "$esp" "$T/grub.cfg" "$T/grubenv" ::/EFI/BOOT/
dd if="$esp" of="$disk" bs=1M seek=1 conv=notrunc status=none

check_eq "ESP found at its GPT offset" "$(gw_part_offset "$disk" 1)" 1048576
check_eq "grub-editenv reads the factory env through mtools" "$(gw_env "$disk" COUNT)" 0

gw_boot "$disk" "$T/boot1"
check_eq "boot 1: GRUB ran grub.cfg and rebooted" "$GW_END" reset
[ "$GW_END" = reset ] || gw_describe
check "boot 1: console shows the factory count" gw_console_has '^gw: count=0 hostvar=$'
check "boot 1: console shows the saved count" gw_console_has '^gw: saved count=1$'
check_eq "boot 1: grub-editenv reads what save_env wrote" "$(gw_env "$disk" COUNT)" 1
check "OVMF variable store is per disk and writable" test -w "$disk.vars"

# The host edits the env between boots, as the project's tools do.
gw_esp_get "$disk" /EFI/BOOT/grubenv "$T/env"
grub-editenv "$T/env" set HOSTVAR=fromhost
gw_esp_put "$disk" "$T/env" /EFI/BOOT/grubenv
gw_boot "$disk" "$T/boot2"
check_eq "boot 2: GRUB halted (power off)" "$GW_END" poweroff
[ "$GW_END" = poweroff ] || gw_describe
check "boot 2: the count persisted across qemu runs, host var seen" \
	gw_console_has '^gw: count=1 hostvar=fromhost$'
check_eq "boot 2: count advanced" "$(gw_env "$disk" COUNT)" 2
check_eq "boot 2: env still 1024 bytes" "$(gw_esp_get "$disk" /EFI/BOOT/grubenv "$T/env2" && stat -c %s "$T/env2")" 1024

# Pitfall: save_env never creates the file; without it nothing persists.
mdel -i "$disk@@1048576" ::/EFI/BOOT/grubenv
gw_boot "$disk" "$T/boot3"
check "boot 3: without grubenv GRUB says so" gw_console_has "error: file .?/EFI/BOOT/grubenv'? not found"
check_fails "boot 3: and save_env did not create it" 'no 1024-byte' gw_env "$disk"

# A hang is cut by the timeout (GRUB at its prompt, no grub.cfg).
mdel -i "$disk@@1048576" ::/EFI/BOOT/grub.cfg
GW_BOOT_TIMEOUT=8 gw_boot "$disk" "$T/boot4"
check_eq "a hang ends as timeout" "$GW_END" timeout

# qemu that cannot start (no such disk) is an error, not a boot.
gw_boot "$T/missing.img" "$T/boot5"
check_eq "a qemu that cannot start ends as error" "$GW_END" error

# The i6300esb watchdog resets a guest that armed it and then hangs
# (direct kernel boot: OVMF and GRUB never arm it).
kver=$(ls /boot/vmlinuz-* | sed 's|^/boot/vmlinuz-||' | sort -V | tail -1)
r=$T/wdroot
mkdir -p "$r/bin" "$r/dev" "$r/proc" "$r/sys" "$r/mod"
cp /bin/busybox "$r/bin/"
for m in $(modprobe --show-depends -S "$kver" i6300esb | awk '$1 == "insmod" { print $2 }'); do
	cp "$m" "$r/mod/"
	echo "$(basename "$m")" >>"$r/mod/order"
done
# Two stages of 3 s each (the 6300ESB fires after the second).
sed -i 's/^i6300esb.ko$/& heartbeat=3/' "$r/mod/order"
cat >"$r/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
while read -r m; do /bin/busybox insmod /mod/$m; done </mod/order
exec 3>/dev/watchdog && echo "wd: armed"
while :; do /bin/busybox sleep 1000; done
EOF
chmod +x "$r/init"
(cd "$r" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$T/wd.gz"
gw_qemu "$T/wd" -kernel "/boot/vmlinuz-$kver" -initrd "$T/wd.gz" \
	-append "console=ttyS0 quiet panic=-1"
check "watchdog: the guest armed /dev/watchdog" gw_console_has 'wd: armed'
check_eq "watchdog: the hung guest was reset by the watchdog" "$GW_END" watchdog
echo "# watchdog run: ${GW_SECS}s"
finish
