#!/usr/bin/env bash
# rootfs-bootctl --disk on GPT disk images: slots found by partition label
# with libblkid, the grubenv inside the FAT ESP written in place (one
# sector), read back with mtools + grub-editenv; versions from the slot
# footers and mark-good raising the rollback floor on a disk made by
# `rootfs-image disk`.
. "$(dirname "$0")/../lib/common.sh"
export MTOOLS_SKIP_CHECK=1
cd "$T"

# part DISK N -> "offset size" in bytes (sgdisk)
part() { sgdisk -i "$2" "$1" | awk '/First sector/ {f=$3} /Last sector/ {l=$3} END {print f*512, (l-f+1)*512}'; }
grubenv() { # DISK: the ESP's grubenv as grub-editenv lists it
	local o s; read -r o s < <(part "$1" 1)
	mcopy -o -i "$1@@$o" ::/EFI/BOOT/grubenv "$T/ge.out" && grub-editenv "$T/ge.out" list
}
json() { # DISK PYEXPR [ARGS]: PYEXPR over status --json as s
	local d=$1 e=$2; shift 2
	rootfs-bootctl --disk "$d" "$@" status --json | python3 -c "import json,sys; s=json.load(sys.stdin); print($e)"
}

# --- a disk made with sgdisk, mkfs.vfat and mtools ---
D=$T/disk.img
truncate -s 48M "$D"
sgdisk -n 1:2048:+8M -c 1:esp -t 1:ef00 -n 2:0:+12M -c 2:rootfs_a -n 3:0:+12M -c 3:rootfs_b \
	-n 4:0:0 -c 4:data "$D" >/dev/null
read -r esp_off esp_size < <(part "$D" 1)
read -r a_off a_size < <(part "$D" 2)
read -r b_off b_size < <(part "$D" 3)
truncate -s "$esp_size" esp.img
mkfs.vfat -F 16 -s 1 esp.img >/dev/null
grub-editenv ge create
grub-editenv ge set ORDER="A B" A_LEFT=3 B_LEFT=2 ROOTFS_GOOD=A ROOTFS_FLOOR=0
mmd -i esp.img ::/EFI ::/EFI/BOOT && mcopy -i esp.img ge ::/EFI/BOOT/grubenv
dd if=esp.img of="$D" bs=512 seek=$((esp_off / 512)) conv=notrunc,sparse status=none

check_eq "status: slots by label, extents in the image" \
	"$(json "$D" "s['slots'][0]['label'], s['slots'][0]['offset'], s['slots'][0]['size'], s['slots'][1]['offset'], s['slots'][1]['size']")" \
	"rootfs_a $a_off $a_size $b_off $b_size"
check_eq "status: in an image the booted slot is the confirmed one" "$(json "$D" "s['booted'], s['confirmed']")" "A True"
check_eq "status: empty slots have no footer" "$(json "$D" "s['slots'][0]['footer'], s['slots'][0]['version']")" "none None"
check "status (text) names the ESP's grubenv" bash -c "rootfs-bootctl --disk $D status | grep -q '^environment: grubenv /EFI/BOOT/grubenv in $D$'"

cp --sparse=always "$D" before.img
check_fails "set-next of an empty slot is refused" 'slot B has no footer' rootfs-bootctl --disk "$D" set-next B
check "refused: the disk image is unchanged" cmp before.img "$D"
check "mark-bad B" rootfs-bootctl --disk "$D" mark-bad B
grubenv "$D" | sort > got.txt
printf '%s\n' 'A_LEFT=3' 'B_LEFT=0' 'ORDER=A B' 'ROOTFS_FLOOR=0' 'ROOTFS_GOOD=A' | sort > want.txt
check "mtools + grub-editenv read back what we wrote" cmp got.txt want.txt
sectors=$(cmp -l before.img "$D" | awk '{print int(($1 - 1) / 512)}' | sort -u | wc -l)
check_eq "the in-place write changed exactly one 512-byte sector" "$sectors" 1
check_eq "the disk image keeps its size" "$(stat -c %s "$D")" "$(stat -c %s before.img)"
check_fails "mark-good: the confirmed slot has no footer" 'slot A has no footer' rootfs-bootctl --disk "$D" mark-good

# labels from the configuration file
printf '[slots]\nesp = boot\n' > conf
check_fails "ESP label not on the disk" "no partition labelled 'boot'" rootfs-bootctl --config conf --disk "$D" status
# no grubenv in the ESP
cp --sparse=always before.img noenv.img
mdel -i "noenv.img@@$esp_off" ::/EFI/BOOT/grubenv
check_fails "ESP without grubenv" 'no grubenv file in the ESP' rootfs-bootctl --disk noenv.img status
# the ESP is not FAT
cp --sparse=always before.img nofat.img
dd if=/dev/zero of=nofat.img bs=512 seek=$((esp_off / 512)) count=1 conv=notrunc status=none
check_fails "ESP not FAT" 'not a FAT filesystem' rootfs-bootctl --disk nofat.img status
# not a GPT disk, duplicate labels
truncate -s 4M plain.img
check_fails "no partition table" 'no GPT partition table' rootfs-bootctl --disk plain.img status
truncate -s 8M dup.img
sgdisk -n 1:2048:+2M -c 1:rootfs_a -n 2:0:+2M -c 2:rootfs_a dup.img >/dev/null
check_fails "a label twice" 'partition label is used twice' rootfs-bootctl --disk dup.img status
check_fails "disk image missing" 'No such file' rootfs-bootctl --disk "$T/none.img" status

# --- versions from footers: a disk made by rootfs-image disk ---
. "$TOP/tests/lib/testkeys.sh"
testkeys "$TOP/$B/testkeys" || { not_ok "testkeys"; finish; }
mkdir -p root && echo a > root/release
mkfs.ext4 -q -b 4096 -d root a.fs 8M
rootfs-image create --rootfs a.fs --key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem" \
	--compatible test-gw --version 5 -o a.upd >/dev/null
G=$T/gw.img
check "rootfs-image disk" rootfs-image disk -o "$G" --slot-a a.upd --slot-size 16M --keyring "$TK/keyring"
check_eq "status: slot A's version from its footer, B empty" \
	"$(json "$G" "s['slots'][0]['version'], s['slots'][0]['footer'], s['slots'][1]['footer']")" "5 ok none"
echo 'console=ttyS0 rootfs.slot=b panic=5' > cmdline.b
check_fails "mark-good of a booted slot without a footer" 'slot B has no footer' \
	rootfs-bootctl --disk "$G" --cmdline cmdline.b mark-good
check "set-next A (it has a footer)" rootfs-bootctl --disk "$G" set-next A --attempts 2
check_eq "set-next A: grub-editenv agrees" "$(grubenv "$G" | grep ^A_LEFT=)" "A_LEFT=2"
check "mark-good confirms A" rootfs-bootctl --disk "$G" mark-good
check_eq "the floor is now A's version" "$(grubenv "$G" | grep ^ROOTFS_FLOOR=)" "ROOTFS_FLOOR=5"
check_eq "status agrees" "$(json "$G" "s['floor'], s['slots'][0]['attempts'], s['order'][0]")" "5 3 A"
finish
