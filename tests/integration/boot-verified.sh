#!/usr/bin/env bash
# Real kernel, real dm-verity: slots that verify boot into their own init,
# on a root that is a read-only dm device (ext4, squashfs and erofs), with
# the data partition and the watchdog when asked for; a
# flipped byte in data the boot reads makes verity restart the guest
# before anything of the slot runs.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/qemu.sh"
. "$TOP/tests/lib/testkeys.sh"

COMPAT=rootfs-demo-x86_64
APPEND="console=ttyS0 quiet panic=-1 rootfs.on_fail=poweroff rootfs.debug"

testkeys "$T/keys" >/dev/null || { not_ok "test keys"; finish; }

# update IMAGE VERSION FSTYPE [SIGNER]: demo rootfs -> signed update image.
update() {
	local out=$1 v=$2 fs=$3 signer=${4:-dev-signing}
	images/demo-rootfs.sh "$T/fs-$v-$fs" "$v" --fstype "$fs" >/dev/null &&
	rootfs-image create --rootfs "$T/fs-$v-$fs/rootfs.img" --key "$TK/$signer.key" --cert "$TK/$signer.pem" \
		--compatible "$COMPAT" --version "$v" -o "$out"
}

cd "$TOP" || exit 1
check "demo rootfs v1 (ext4), v2 (squashfs), v3 (erofs) as signed updates" \
	eval 'update "$T/v1.upd" 1 ext4 && update "$T/v2.upd" 2 squashfs && update "$T/v3.upd" 3 erofs'
check "demo rootfs v4 whose init hangs, as a signed update" eval '
	images/demo-rootfs.sh "$T/fs-4-hang" 4 --init-mode hang >/dev/null &&
	rootfs-image create --rootfs "$T/fs-4-hang/rootfs.img" --key "$TK/dev-signing.key" \
		--cert "$TK/dev-signing.pem" --compatible "$COMPAT" --version 4 -o "$T/v4.upd"'
check "rootfs-image disk: A = v1 ext4, B = v2 squashfs" \
	rootfs-image disk -o "$T/disk.img" --slot-a "$T/v1.upd" --slot-b "$T/v2.upd"
check "rootfs-image disk: A = v1 ext4, B = v3 erofs" \
	rootfs-image disk -o "$T/disk3.img" --slot-a "$T/v1.upd" --slot-b "$T/v3.upd"
check "rootfs-image disk: A = v4 (hangs)" rootfs-image disk -o "$T/disk4.img" --slot-a "$T/v4.upd"
check "mkinitramfs (keyring dev CA, watchdog driver)" \
	initramfs/mkinitramfs -o "$T/initrd" --kernel-version "$QEMU_KVER" --keyring "$TK/dev-ca.pem" \
	--compatible "$COMPAT" --init "$BIN/rootfs-init" \
	--modules "virtio_pci virtio_blk dm-verity ext4 squashfs erofs i6300esb"

# no_failures LOG: rootfs-init said nothing failed and no sanitizer spoke.
no_failures() { ! grep -E 'rootfs-init: slot [AB?]:|ERROR: AddressSanitizer|runtime error' "$1"; }

# Slot A with one flipped byte inside /sbin/init's first data block.
blk=$(debugfs -R "bmap /sbin/init 0" "$T/fs-1-ext4/rootfs.img" 2>/dev/null)
read -r a_off _ < <(part_extent "$T/disk.img" rootfs_a)
check "the byte to flip is inside slot A's data (block ${blk:-?})" eval '[ -n "$blk" ] && [ -n "$a_off" ]'
cp --sparse=always "$T/disk.img" "$T/flipped.img"
flip_byte "$T/flipped.img" $(( a_off + blk * 4096 + 5 ))
check "the flipped disk differs from the good one" eval '! cmp -s "$T/disk.img" "$T/flipped.img"'
cp --sparse=always "$T/flipped.img" "$T/flipped2.img"

# Two boots at a time (TCG runs a guest on one core), never two on one
# disk image (qemu locks it): A (ext4, watchdog, data partition) with B of
# the erofs disk, then B (squashfs, rootfs.disk=) with the flipped disk,
# then the flipped disk again with panic_on_corruption next to a slot
# whose init hangs after rootfs-init armed the watchdog.
qemu_boot "$T/a.log" "$T/initrd" "$APPEND rootfs.slot=a rootfs.watchdog=60 rootfs.data=/data" "$T/disk.img" \
	-device i6300esb -watchdog-action poweroff &
qemu_boot "$T/e.log" "$T/initrd" "$APPEND rootfs.slot=b" "$T/disk3.img" &
wait
qemu_boot "$T/b.log" "$T/initrd" "$APPEND rootfs.slot=b rootfs.disk=/dev/vda" "$T/disk.img" &
qemu_boot "$T/f.log" "$T/initrd" "$APPEND rootfs.slot=a" "$T/flipped.img" &
wait
qemu_boot "$T/p.log" "$T/initrd" "$APPEND rootfs.slot=a rootfs.verity=panic" "$T/flipped2.img" &
qemu_boot "$T/w.log" "$T/initrd" "$APPEND rootfs.slot=a rootfs.watchdog=3" "$T/disk4.img" \
	-device i6300esb -watchdog-action reset &
wait

sed 's/^/#   a: /' "$T/a.log" | grep -v '^#   a: *$' >&2
check "A: its own init ran, version 1, root on a dm device, read-only" \
	grep -qE '^ROOTFS-DEMO: version 1 booted, root=/dev/(mapper/[^ ]+|dm-[0-9]+) ro$' "$T/a.log"
check "A: /proc/mounts shows / as ext4 on the dm device, ro" \
	grep -qE '^ROOTFS-DEMO: mount: /dev/(mapper/[^ ]+|dm-[0-9]+) / ext4 ro[, ]' "$T/a.log"
check "A: kernel keyring lacks the key, fell back to the userspace-verified root hash" \
	grep -q 'the kernel does not trust the signing key' "$T/a.log"
check "A: data partition mounted read-write, nosuid, nodev on /data" \
	grep -qE '^ROOTFS-DEMO: data: /dev/vda[0-9]+ /data ext4 rw,nosuid,nodev[, ]' "$T/a.log"
check "A: watchdog armed before switch_root" grep -q 'rootfs-init: watchdog armed for 60 s' "$T/a.log"
check "A: no failure line" no_failures "$T/a.log"
check_eq "A: guest powered off by the slot's init" "$(qemu_outcome "$T/a.log")" poweroff
ms=$(sed -n 's/.*rootfs-init: verified and mounted in \([0-9]*\) ms.*/\1/p' "$T/a.log")
check "A: start to switch_root measured (${ms:-?} ms)" test -n "$ms"
echo "# rootfs-init start to switch_root: ${ms:-?} ms (TCG guest)" >&2

check "B: version 2 booted from squashfs on dm-verity, read-only" \
	eval 'grep -qE "^ROOTFS-DEMO: version 2 booted, root=/dev/(mapper/[^ ]+|dm-[0-9]+) ro$" "$T/b.log" &&
	      grep -qE "^ROOTFS-DEMO: mount: /dev/(mapper/[^ ]+|dm-[0-9]+) / squashfs ro[, ]" "$T/b.log"'
check "B: found as partition 3 of rootfs.disk=/dev/vda" grep -q 'rootfs-init: rootfs_b is /dev/vda3' "$T/b.log"
check "B: no failure line" no_failures "$T/b.log"

check "B: version 3 booted from erofs on dm-verity, read-only" \
	eval 'grep -qE "^ROOTFS-DEMO: version 3 booted, root=/dev/(mapper/[^ ]+|dm-[0-9]+) ro$" "$T/e.log" &&
	      grep -qE "^ROOTFS-DEMO: mount: /dev/(mapper/[^ ]+|dm-[0-9]+) / erofs ro[, ]" "$T/e.log"'
check "B (erofs): no failure line" no_failures "$T/e.log"

sed 's/^/#   flipped: /' "$T/f.log" | grep -v '^#   flipped: *$' >&2
check "flipped: verity reports the corrupted data block" \
	grep -qE "device-mapper: verity: [0-9:]+: data block $blk is corrupted" "$T/f.log"
check "flipped: nothing of the slot ran" eval '! grep -q "ROOTFS-DEMO" "$T/f.log"'
check_eq "flipped: restart_on_corruption rebooted the guest" "$(qemu_outcome "$T/f.log")" reboot
check "flipped, rootfs.verity=panic: verity panics the kernel at the corrupted block" \
	eval 'grep -qE "device-mapper: verity: [0-9:]+: data block $blk is corrupted" "$T/p.log" &&
	      grep -q "Kernel panic - not syncing: dm-verity device corrupted" "$T/p.log" && ! grep -q ROOTFS-DEMO "$T/p.log"'
check_eq "flipped, rootfs.verity=panic: panic=-1 ended the boot" "$(qemu_outcome "$T/p.log")" panic

# The hang: the watchdog armed by rootfs-init resets the guest (qemu
# -no-reboot exits on the reset; the kernel never says reboot or power down).
check "hang: v4's init ran and hung" grep -q '^ROOTFS-DEMO: hanging$' "$T/w.log"
check "hang: watchdog armed for 3 s" grep -q 'rootfs-init: watchdog armed for 3 s' "$T/w.log"
check_eq "hang: the watchdog reset ended the boot (no kernel shutdown, no qemu timeout)" \
	"$(qemu_outcome "$T/w.log")" unknown

finish
