#!/usr/bin/env bash
# rootfs-image disk: GPT with the four labelled partitions, slot A as the
# installer writes it (veritysetup accepts data + tree with the manifest's
# root hash, the footer holds the signed manifest), a GRUB ESP whose
# grubenv reads back "boot A", an ext4 data partition. Files only.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/testkeys.sh"
testkeys "$TOP/$B/testkeys" || { not_ok "testkeys"; finish; }
export MTOOLS_SKIP_CHECK=1

mkdir -p "$T/root/etc" && echo "VERSION_ID=5" >"$T/root/etc/os-release" && head -c 300000 /dev/urandom >"$T/root/blob"
truncate -s 2M "$T/a.ext4" && mkfs.ext4 -q -d "$T/root" "$T/a.ext4"
mksquashfs "$T/root" "$T/b.sqfs" -quiet -noappend >/dev/null
sign=(--key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem" --compatible acme-gw-1)
rootfs-image create --rootfs "$T/a.ext4" "${sign[@]}" --version 5 -o "$T/a.rfsu" >/dev/null
rootfs-image create --rootfs "$T/b.sqfs" "${sign[@]}" --version 6 --compress zstd -o "$T/b.rfsu" >/dev/null
echo "# test grub.cfg" >"$T/grub.cfg"
field() { rootfs-image info "$1" | sed -n "s/^$2=//p"; }

check "disk with slots A and B" rootfs-image disk -o "$T/disk.img" --slot-a "$T/a.rfsu" --slot-b "$T/b.rfsu" \
	--slot-size 8M --data-size 8M --esp-size 16M --grub-cfg "$T/grub.cfg" --keyring "$TK/keyring"
sgdisk -p "$T/disk.img" >"$T/gpt.txt" 2>&1
check_eq "four partitions, labelled, in order" "$(awk '/^ +[0-9]/ {print $1 ":" $6 ":" $7}' "$T/gpt.txt" | tr '\n' ' ')" \
	"1:EF00:esp 2:8304:rootfs_a 3:8304:rootfs_b 4:8300:data "
start() { awk -v n="$1" '$1 == n {print $2}' "$T/gpt.txt"; }
sectors() { awk -v n="$1" '$1 == n {print $3 - $2 + 1}' "$T/gpt.txt"; }
check_eq "slot A size" "$(( $(sectors 2) * 512 ))" $((8 << 20))

# Slot A: data at 0, tree at align4096(payload_size), no superblock.
dd if="$T/disk.img" of="$T/slot_a" bs=512 skip="$(start 2)" count="$(sectors 2)" status=none
size=$(field "$T/a.rfsu" payload_size)
check "veritysetup verify accepts slot A with the manifest's root hash" veritysetup verify --no-superblock \
	--hash-offset="$(( (size + 4095) / 4096 * 4096 ))" --data-blocks="$(field "$T/a.rfsu" verity_data_blocks)" \
	--salt="$(field "$T/a.rfsu" verity_salt)" "$T/slot_a" "$T/slot_a" "$(field "$T/a.rfsu" verity_root_hash)"
check "slot A data is the filesystem" cmp -n "$(stat -c %s "$T/a.ext4")" "$T/slot_a" "$T/a.ext4"
footer=$(( (8 << 20) - 131072 ))
check_eq "slot A footer magic" "$(dd if="$T/slot_a" bs=1 skip=$footer count=8 status=none)" RFSFOOT1
ms=$(python3 -c "import struct,sys; print(struct.unpack_from('<I', open(sys.argv[1],'rb').read(64), 16)[0])" "$T/a.rfsu")
check "slot A footer holds the signed manifest" cmp -n "$ms" <(dd if="$T/slot_a" bs=4096 skip=$(( footer / 4096 + 1 )) status=none) \
	<(dd if="$T/a.rfsu" bs=1 skip=64 count="$ms" status=none)
dd if="$T/disk.img" of="$T/slot_b" bs=512 skip="$(start 3)" count="$(sectors 3)" status=none
check "slot B (zstd) is the decompressed filesystem" cmp -n "$(stat -c %s "$T/b.sqfs")" "$T/slot_b" "$T/b.sqfs"
check "veritysetup verify accepts slot B" veritysetup verify --no-superblock \
	--hash-offset="$(field "$T/b.rfsu" payload_size)" --data-blocks="$(field "$T/b.rfsu" verity_data_blocks)" \
	--salt="$(field "$T/b.rfsu" verity_salt)" "$T/slot_b" "$T/slot_b" "$(field "$T/b.rfsu" verity_root_hash)"

# ESP: GRUB, grub.cfg, and a grubenv that boots A.
esp="$T/disk.img@@$(( $(start 1) * 512 ))"
check "ESP holds BOOTX64.EFI" bash -c "mdir -i '$esp' ::/EFI/BOOT | grep -q BOOTX64"
mcopy -i "$esp" ::/EFI/BOOT/grubenv "$T/grubenv" && mcopy -i "$esp" ::/EFI/BOOT/grub.cfg "$T/grub.cfg.out"
mcopy -i "$esp" ::/EFI/BOOT/BOOTX64.EFI "$T/BOOTX64.EFI"
check "BOOTX64.EFI is a PE image" bash -c "head -c 2 '$T/BOOTX64.EFI' | grep -q MZ"
check "grub.cfg installed" cmp "$T/grub.cfg" "$T/grub.cfg.out"
check_eq "grubenv is 1024 bytes" "$(stat -c %s "$T/grubenv")" 1024
check_eq "grubenv reads back: boot A" "$(grub-editenv "$T/grubenv" list | sort | tr '\n' ' ')" \
	"A_LEFT=3 B_LEFT=3 ORDER=A B ROOTFS_FLOOR=5 ROOTFS_GOOD=A "
check "grubenv content under 512 bytes" bash -c "[ \$(grep -v '^#' '$T/grubenv' | tr -d '#' | wc -c) -lt 512 ]"

# data: ext4 labelled data.
dd if="$T/disk.img" of="$T/data" bs=512 skip="$(start 4)" count="$(sectors 4)" status=none
check_eq "data partition is ext4 labelled data" "$(blkid -p -o value -s TYPE -s LABEL "$T/data" | tr '\n' ' ')" "data ext4 "
check "data partition fsck clean" e2fsck -fn "$T/data"

# Slot A only, custom labels, no bootloader; grub.cfg from ROOTFS_SHARE.
check "disk, slot A only, custom labels, --bootloader none" rootfs-image disk -o "$T/d2.img" --slot-a "$T/b.rfsu" \
	--slot-size 4M --data-size 4M --esp-size 8M --labels boot,sysA,sysB,userdata --bootloader none
check_eq "custom labels" "$(sgdisk -p "$T/d2.img" | awk '/^ +[0-9]/ {print $7}' | tr '\n' ' ')" "boot sysA sysB userdata "
check "no GRUB with --bootloader none" bash -c "! mdir -i '$T/d2.img@@1048576' ::/EFI/BOOT | grep -q BOOTX64"
check "grub.cfg found next to the tool (bootctl/grub/grub.cfg)" rootfs-image disk -o "$T/d4.img" --slot-a "$T/b.rfsu" \
	--slot-size 4M --data-size 4M --esp-size 8M
mcopy -i "$T/d4.img@@1048576" ::/EFI/BOOT/grub.cfg "$T/tree.out"
check "the source tree's grub.cfg was installed" cmp "$TOP/bootctl/grub/grub.cfg" "$T/tree.out"
mkdir -p "$T/share" && echo "# share grub.cfg" >"$T/share/grub.cfg"
check "grub.cfg found through ROOTFS_SHARE" env ROOTFS_SHARE="$T/share" rootfs-image disk -o "$T/d3.img" --slot-a "$T/b.rfsu" \
	--slot-size 4M --data-size 4M --esp-size 8M
mcopy -i "$T/d3.img@@1048576" ::/EFI/BOOT/grub.cfg "$T/share.out" && mcopy -i "$T/d3.img@@1048576" ::/EFI/BOOT/grubenv "$T/grubenv3"
check "the ROOTFS_SHARE grub.cfg was installed" cmp "$T/share/grub.cfg" "$T/share.out"
check_eq "without slot B: B_LEFT=0" "$(grub-editenv "$T/grubenv3" list | grep B_LEFT)" B_LEFT=0

# Refusals: one line, no disk left behind.
check_fails "slot too small" "slot A update does not fit in --slot-size" \
	rootfs-image disk -o "$T/bad.img" --slot-a "$T/a.rfsu" --slot-size 1M --grub-cfg "$T/grub.cfg"
cp "$T/a.rfsu" "$T/tampered.rfsu"
printf 'X' | dd of="$T/tampered.rfsu" bs=1 seek=$(( $(stat -c %s "$T/a.rfsu") - 5000 )) conv=notrunc status=none
check_fails "tampered payload" "slot A payload does not match its manifest" \
	rootfs-image disk -o "$T/bad.img" --slot-a "$T/tampered.rfsu" --slot-size 8M --grub-cfg "$T/grub.cfg"
check_fails "untrusted signer with --keyring" "manifest signature: not signed by a trusted CA" \
	rootfs-image disk -o "$T/bad.img" --slot-a "$T/a.rfsu" --slot-size 8M --grub-cfg "$T/grub.cfg" --keyring "$TK/other-ca.pem"
check_fails "missing grub.cfg" "cannot|no grub.cfg|mcopy" \
	rootfs-image disk -o "$T/bad.img" --slot-a "$T/a.rfsu" --slot-size 8M --grub-cfg "$T/nope.cfg"
rootfs-image create --rootfs "$T/b.sqfs" --key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem" --compatible other-gw \
	--version 9 -o "$T/other.rfsu" >/dev/null
check_fails "slot B for another product" "slot B update is for another product" \
	rootfs-image disk -o "$T/bad.img" --slot-a "$T/a.rfsu" --slot-b "$T/other.rfsu" --slot-size 8M --grub-cfg "$T/grub.cfg"
check_fails "slot B older than slot A" "slot B update is older than slot A" \
	rootfs-image disk -o "$T/bad.img" --slot-a "$T/b.rfsu" --slot-b "$T/a.rfsu" --slot-size 8M --grub-cfg "$T/grub.cfg"
check_fails "bad labels" "--labels needs four" rootfs-image disk -o "$T/bad.img" --slot-a "$T/a.rfsu" --labels a,b
check_fails "bad size" "bad --slot-size" rootfs-image disk -o "$T/bad.img" --slot-a "$T/a.rfsu" --slot-size 12Q
check "no disk or temp file left after failures" bash -c "! ls '$T'/bad.img* 2>/dev/null | grep -q ."
finish
