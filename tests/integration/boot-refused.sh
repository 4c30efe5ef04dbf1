#!/usr/bin/env bash
# Real kernel: slots rootfs-init must refuse before any dm-verity
# activation, each with its own one-line reason, then power off (or reboot
# by default): a footer whose signature does not verify, a signer under an
# untrusted CA, a compatible mismatch, a version below the rollback floor
# (command line and ESP environment), an empty slot, and a partition that
# never appears.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/qemu.sh"
. "$TOP/tests/lib/testkeys.sh"

COMPAT=rootfs-demo-x86_64
APPEND="console=ttyS0 quiet panic=-1 rootfs.debug"

testkeys "$T/keys" >/dev/null || { not_ok "test keys"; finish; }
cd "$TOP" || exit 1

update() { # update OUT SIGNER
	rootfs-image create --rootfs "$T/fs/rootfs.img" --key "$TK/$2.key" --cert "$TK/$2.pem" \
		--compatible "$COMPAT" --version 1 -o "$1"
}
check "demo rootfs v1, signed by the dev CA and by an untrusted CA" \
	eval 'images/demo-rootfs.sh "$T/fs" 1 >/dev/null && update "$T/good.upd" dev-signing &&
	      update "$T/other.upd" other-signing'
check "rootfs-image disk: good (slot B empty), and signed by the untrusted CA" \
	eval 'rootfs-image disk -o "$T/good.img" --slot-a "$T/good.upd" &&
	      rootfs-image disk -o "$T/other.img" --slot-a "$T/other.upd"'
mkinit() { # mkinit OUT COMPATIBLE
	initramfs/mkinitramfs -o "$1" --kernel-version "$QEMU_KVER" --keyring "$TK/dev-ca.pem" \
		--compatible "$2" --init "$BIN/rootfs-init" --modules "virtio_pci virtio_blk dm-verity ext4"
}
check "mkinitramfs: for this board, and for another board" \
	eval 'mkinit "$T/initrd" "$COMPAT" && mkinit "$T/initrd-other" other-board'

# The footer rewritten by an attacker: one manifest byte changed
# (compatible ...x86_64 -> ...x86_65) with the footer's own content hash
# and CRC recomputed, so only the signature can catch it.
tamper_footer() { # DISK OFFSET SIZE
	python3 - "$@" <<'PY'
import hashlib, struct, sys, zlib
disk, off, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
foot = off + size - 128 * 1024
with open(disk, "r+b") as f:
    f.seek(foot); hdr = bytearray(f.read(64))
    assert hdr[:8] == b"RFSFOOT1", "no footer"
    n1, n2, n3 = struct.unpack_from("<III", hdr, 12)
    f.seek(foot + 4096); body = bytearray(f.read(n1 + n2 + n3))
    i = body.index(b"compatible=rootfs-demo-x86_64\n", 0, n1)
    body[i + len("compatible=rootfs-demo-x86_6")] = ord("5")
    hdr[24:56] = hashlib.sha256(body).digest()
    struct.pack_into("<I", hdr, 56, zlib.crc32(bytes(hdr[:56])))
    f.seek(foot + 4096); f.write(body)
    f.seek(foot); f.write(hdr)
PY
}
cp --sparse=always "$T/good.img" "$T/tampered.img"
read -r a_off a_size < <(part_extent "$T/good.img" rootfs_a)
check "footer of slot A tampered (content hash and CRC made to match)" \
	tamper_footer "$T/tampered.img" "$a_off" "$a_size"

# refused NAME LOG REGEX [OUTCOME]: the one failure line, said once; no
# activation, nothing of the slot ran; the guest ended as on_fail says.
refused() {
	local name=$1 log=$2 re=$3 outcome=${4:-poweroff}
	sed 's/^/#   /' "$log" | grep -v '^# *$' >&2
	check "$name: says so" grep -qE "^rootfs-init: $re\$" "$log"
	check_eq "$name: exactly one failure line" "$(grep -cE '^rootfs-init: slot [AB?]: ' "$log")" 1
	check "$name: refused before dm-verity activation" \
		eval '! grep -qE "rootfs-init: dm-verity|device-mapper: (table|verity)|mounted read-only" "$log"'
	check "$name: nothing of the slot ran" eval '! grep -q ROOTFS-DEMO "$log"'
	check "$name: no sanitizer report" eval '! grep -qE "ERROR: AddressSanitizer|runtime error" "$log"'
	check_eq "$name: guest ${outcome}" "$(qemu_outcome "$log")" "$outcome"
}

# The floor is the highest of its sources: 2 on the command line, 3 as
# ROOTFS_FLOOR in the GRUB environment on the ESP (set with grub-editenv).
cp --sparse=always "$T/good.img" "$T/floor.img"
# shellcheck disable=SC2034 # esp_off is used inside eval
read -r esp_off _ < <(part_extent "$T/floor.img" esp)
export MTOOLS_SKIP_CHECK=1
check "ROOTFS_FLOOR=3 in the ESP's grubenv" eval '
	mcopy -n -i "$T/floor.img@@$esp_off" ::/EFI/BOOT/grubenv "$T/grubenv" &&
	grub-editenv "$T/grubenv" set ROOTFS_FLOOR=3 &&
	mcopy -o -i "$T/floor.img@@$esp_off" "$T/grubenv" ::/EFI/BOOT/grubenv'

# Two boots at a time (TCG runs a guest on one core); no two at once share
# a disk image, since qemu locks it.
A="$APPEND rootfs.on_fail=poweroff"
qemu_boot "$T/sig.log" "$T/initrd" "$A rootfs.slot=a" "$T/tampered.img" &
qemu_boot "$T/ca.log" "$T/initrd" "$A rootfs.slot=a" "$T/other.img" &
wait
qemu_boot "$T/compat.log" "$T/initrd-other" "$A rootfs.slot=a" "$T/good.img" &
qemu_boot "$T/floor.log" "$T/initrd" "$A rootfs.slot=a rootfs.floor=2" "$T/floor.img" &
wait
qemu_boot "$T/empty.log" "$T/initrd" "$A rootfs.slot=b" "$T/good.img" &
# No disk at all, default on_fail: refused after the 2 s timeout, then a
# reboot (qemu -no-reboot exits), not a hang.
qemu_boot "$T/missing.log" "$T/initrd" "$APPEND rootfs.slot=a rootfs.timeout=2" &
wait

refused "tampered footer" "$T/sig.log" \
	'slot A: signature does not verify: manifest signature: does not match the signed data'
refused "untrusted CA" "$T/ca.log" \
	'slot A: signature does not verify: manifest signature: not signed by a trusted CA'
refused "compatible mismatch" "$T/compat.log" "slot A: compatible '$COMPAT' does not match 'other-board'"
refused "below the rollback floor" "$T/floor.log" 'slot A: version 1 is below the rollback floor 3'
refused "empty slot B" "$T/empty.log" 'slot B: no footer: the slot holds no installed image'
refused "missing partition" "$T/missing.log" 'slot A: partition rootfs_a did not appear within 2 s' reboot
check "missing partition: the boot ended by itself, no qemu timeout" \
	test "$(qemu_outcome "$T/missing.log")" != timeout

finish
