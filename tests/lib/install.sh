# shellcheck shell=bash
# Sourced by the install tests (after common.sh and testkeys): helpers to
# build update images and disks and to look at slots and the environment.
export MTOOLS_SKIP_CHECK=1

# mkfs NAME SIZE: an ext4 image with a marker file
mkfs() {
	mkdir -p "$T/root-$1" && echo "$1" >"$T/root-$1/release" &&
	head -c 200000 /dev/urandom >"$T/root-$1/blob" &&
	mkfs.ext4 -q -b 4096 -d "$T/root-$1" "$T/$1.fs" "$2"
}
# mkupd NAME FS VERSION [ARGS]: a signed update image $T/NAME.upd
mkupd() {
	rootfs-image create --rootfs "$T/$2.fs" --key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem" \
		--compatible test-gw --version "$3" -o "$T/$1.upd" "${@:4}" >/dev/null
}
# field UPDATE KEY: a manifest value from rootfs-image info --json
field() { rootfs-image info "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
# part DISK N: sets P_OFF and P_SIZE to partition N's extent in bytes
# (sgdisk; cached, a disk's layout does not change under the tests)
declare -A _part_cache
part() {
	[ -n "${_part_cache[$1:$2]:-}" ] ||
		_part_cache[$1:$2]=$(sgdisk -i "$2" "$1" | awk '/First sector/ {f=$3} /Last sector/ {l=$3} END {print f*512, (l-f+1)*512}')
	read -r P_OFF P_SIZE <<<"${_part_cache[$1:$2]}"
}
slot_sha() { # DISK N
	part "$1" "$2"
	dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip="$P_OFF" count="$P_SIZE" status=none | sha256sum | cut -c1-64
}
grubenv() { # DISK: the grubenv as grub-editenv lists it
	part "$1" 1
	mcopy -o -i "$1@@$P_OFF" ::/EFI/BOOT/grubenv "$T/grubenv.out" && grub-editenv "$T/grubenv.out" list
}
envvar() { grubenv "$1" | sed -n "s/^$2=//p"; }
# status DISK PYEXPR: evaluates PYEXPR over `rootfs-bootctl status --json` as s
status() {
	rootfs-bootctl --disk "$1" status --json | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}
# B must not be bootable (no attempts left or out of the order), A must
# still be the confirmed slot
b_not_bootable() {
	local e; e=$(grubenv "$1")
	grep -qx 'ROOTFS_GOOD=A' <<<"$e" &&
	{ grep -qx 'B_LEFT=0' <<<"$e" || ! grep -q '^ORDER=.*B' <<<"$e"; }
}

# the installer's configuration for the tests: $T/inst.conf
cat >"$T/inst.conf" <<EOF
[device]
compatible = test-gw
keyring = $TK/keyring
[install]
log_file = $T/install.log
lock_file = $T/install.lock
EOF

# verify_slot DISK N UPDATE: veritysetup checks slot N's data and tree
# against UPDATE's signed root hash (checked with the keyring first);
# leaves the slot's bytes in $T/slot.img
verify_slot() {
	local info rh salt blocks hoff
	part "$1" "$2"
	dd if="$1" of="$T/slot.img" bs=1M iflag=skip_bytes,count_bytes skip="$P_OFF" count="$P_SIZE" status=none &&
	info=$(rootfs-image info "$3" --keyring "$TK/keyring" --json | python3 -c "
import json,sys; m=json.load(sys.stdin)
print(m['verity_root_hash'], m['verity_salt'], m['verity_data_blocks'], (m['payload_size'] + 4095) // 4096 * 4096)") &&
	read -r rh salt blocks hoff <<<"$info" &&
	veritysetup verify --no-superblock --hash=sha256 --data-block-size=4096 --hash-block-size=4096 \
		--data-blocks="$blocks" --salt="$salt" --hash-offset="$hoff" "$T/slot.img" "$T/slot.img" "$rh"
}
