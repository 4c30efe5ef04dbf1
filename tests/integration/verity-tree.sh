#!/usr/bin/env bash
# rootfs-verity format|verify against the real veritysetup (cryptsetup):
# byte-identical trees for the same salt and UUID, each tool verifying the
# other's tree, corruption reported by block number, and bad input.
source "$(dirname "$0")/../lib/common.sh"

SALT=5eed0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab
UUID=2f6a4b1c-0d3e-4f5a-8b9c-0123456789ab
V=rootfs-verity

fails() { ! "$@"; }
vs_root() { awk '/^Root hash:/ { print $3 }' "$1"; }
vs_field() { awk -F'\t' -v k="$1" 'index($0, k ":") == 1 { print $2 }' "$2"; }

# Random data for the block counts under test, as prefixes of one file.
head -c $((16385 * 4096)) /dev/urandom >"$T/rand"
data() { # BLOCKS -> path of a file with that many 4 KiB blocks
	[ -f "$T/d$1" ] || head -c $(($1 * 4096)) "$T/rand" >"$T/d$1"
	echo "$T/d$1"
}

# compare NAME DATA [FORMAT OPTIONS...]: separate hash files.
compare() {
	local name=$1 d=$2; shift 2
	rm -f "$T/vs.h" "$T/ours.h"
	veritysetup format "$d" "$T/vs.h" --salt "$SALT" "$@" >"$T/vs.out"
	$V format "$d" "$T/ours.h" --salt "$SALT" "$@" >"$T/ours.out" 2>"$T/ours.err"
	check "$name: tree identical to veritysetup's" cmp "$T/vs.h" "$T/ours.h"
	check_eq "$name: root hash" "$(tail -n1 "$T/ours.out")" "$(vs_root "$T/vs.out")"
	check_eq "$name: hash block count" "$(vs_field 'Hash blocks' "$T/ours.out")" \
		"$(vs_field 'Hash blocks' "$T/vs.out")"
}

for n in 1 127 128 129 16383 16384 16385; do
	d=$(data $n)
	compare "$n blocks, superblock" "$d" --uuid "$UUID"
	root=$(tail -n1 "$T/ours.out")
	check "$n blocks: veritysetup verify accepts ours" veritysetup verify "$d" "$T/ours.h" "$root"
	check "$n blocks: rootfs-verity verify accepts veritysetup's" $V verify "$d" "$T/vs.h" "$root"
	compare "$n blocks, no superblock" "$d" --no-superblock
	root=$(tail -n1 "$T/ours.out")
	check "$n blocks, no superblock: veritysetup verify accepts ours" \
		veritysetup verify "$d" "$T/ours.h" "$root" --no-superblock --salt "$SALT"
	check "$n blocks, no superblock: ours accepts veritysetup's" \
		$V verify "$d" "$T/vs.h" "$root" --no-superblock --salt "$SALT"
done

# sha512 and other block sizes for a couple of sizes.
for n in 129 16385; do
	compare "$n blocks, sha512" "$(data $n)" --uuid "$UUID" --hash sha512
	check "$n blocks, sha512: veritysetup verify accepts ours" \
		veritysetup verify "$(data $n)" "$T/ours.h" "$(tail -n1 "$T/ours.out")"
	compare "$n blocks, sha512, no superblock, offset" "$(data $n)" --hash sha512 --no-superblock \
		--hash-offset 65536
done
compare "1000 blocks, 1 KiB data / 512-byte hash blocks" "$(data 1000)" --uuid "$UUID" \
	--data-block-size 1024 --hash-block-size 512
compare "1000 blocks, --data-blocks 900, 8 KiB hash blocks" "$(data 1000)" --uuid "$UUID" \
	--data-blocks 900 --hash-block-size 8192
compare "no salt" "$(data 129)" --uuid "$UUID" --salt -
compare "256-byte salt, 512-byte data blocks, sha512" "$(data 129)" --uuid "$UUID" \
	--salt "$(printf 'c3%.0s' $(seq 256))" --data-block-size 512 --hash sha512
compare "superblock at 512-aligned offset" "$(data 129)" --uuid "$UUID" --hash-offset 5120

# An existing hash file with old contents: written over like veritysetup does.
head -c 1M /dev/urandom >"$T/vs.h"
cp "$T/vs.h" "$T/ours.h"
veritysetup format "$(data 129)" "$T/vs.h" --salt "$SALT" --uuid "$UUID" >"$T/vs.out"
$V format "$(data 129)" "$T/ours.h" --salt "$SALT" --uuid "$UUID" >"$T/ours.out"
check "old hash file reused: identical to veritysetup's" cmp "$T/vs.h" "$T/ours.h"

# Same file: the tree after the data at --hash-offset.
for n in 129 16385; do
	for sb in "" --no-superblock; do
		off=$(((n + 3) * 4096))
		cp "$(data $n)" "$T/vs.img"
		cp "$(data $n)" "$T/ours.img"
		veritysetup format "$T/vs.img" "$T/vs.img" --salt "$SALT" --uuid "$UUID" --data-blocks $n \
			--hash-offset $off $sb >"$T/vs.out"
		$V format "$T/ours.img" "$T/ours.img" --salt "$SALT" --uuid "$UUID" --hash-offset $off $sb \
			>"$T/ours.out"
		check "$n blocks, same file ${sb:-with superblock}: identical image" cmp "$T/vs.img" "$T/ours.img"
		root=$(tail -n1 "$T/ours.out")
		check_eq "$n blocks, same file ${sb:-with superblock}: root hash" "$root" "$(vs_root "$T/vs.out")"
		if [ -z "$sb" ]; then
			check "$n blocks, same file: veritysetup verify accepts ours" \
				veritysetup verify "$T/ours.img" "$T/ours.img" "$root" --hash-offset $off
			check "$n blocks, same file: ours verifies" \
				$V verify "$T/ours.img" "$T/ours.img" "$root" --hash-offset $off --data-blocks $n \
				--no-superblock --salt "$SALT" --hash-offset $((off + 4096))
		fi
	done
done

# One large image (256 MiB), both ways.
head -c 256M /dev/urandom >"$T/big"
compare "256 MiB" "$T/big" --uuid "$UUID"
root=$(tail -n1 "$T/ours.out")
check "256 MiB: veritysetup verify accepts ours" veritysetup verify "$T/big" "$T/ours.h" "$root"
check "256 MiB: rootfs-verity verify accepts veritysetup's" $V verify "$T/big" "$T/vs.h" "$root"
# 65536 blocks: superblock + 1 + 4 + 512 hash blocks
check_eq "256 MiB: hash device size" "$(stat -c %s "$T/ours.h")" $(((1 + 1 + 4 + 512) * 4096))

# Data that is not a multiple of the block size is padded (with a note);
# veritysetup sees the same tree on the zero-padded copy.
head -c 5000 "$T/rand" >"$T/odd"
head -c 5000 "$T/rand" >"$T/odd.padded"
truncate -s 8192 "$T/odd.padded"
rm -f "$T/ours.h" "$T/vs.h"
$V format "$T/odd" "$T/ours.h" --salt "$SALT" --uuid "$UUID" >"$T/ours.out" 2>"$T/ours.err"
check "padding: one-line note" grep -q "^rootfs-verity: note: .*padded with zeros" "$T/ours.err"
check_eq "padding: note is one line" "$(wc -l <"$T/ours.err")" 1
veritysetup format "$T/odd.padded" "$T/vs.h" --salt "$SALT" --uuid "$UUID" >"$T/vs.out"
check "padding: tree equals veritysetup's for the padded data" cmp "$T/vs.h" "$T/ours.h"
check "padding: ours verifies the unpadded file" $V verify "$T/odd" "$T/ours.h" "$(vs_root "$T/vs.out")"

# Corruption: 16385 blocks with a superblock has levels of 129, 2 and 1
# blocks: superblock = hash block 0, top = 1, level 1 = 2..3, level 0 = 4..132.
d=$(data 16385)
cp "$d" "$T/c.img"
rm -f "$T/c.h"
$V format "$T/c.img" "$T/c.h" --salt "$SALT" --uuid "$UUID" >"$T/ours.out"
root=$(tail -n1 "$T/ours.out")
flip() { # FILE OFFSET: xor one byte
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 0x55)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
flip "$T/c.img" $((1234 * 4096 + 99))
check_fails "flipped data byte: reported by block" "^rootfs-verity: data block 1234 is corrupted$" \
	$V verify "$T/c.img" "$T/c.h" "$root"
check "flipped data byte: veritysetup verify rejects it" fails veritysetup verify "$T/c.img" "$T/c.h" "$root"
flip "$T/c.img" $((1234 * 4096 + 99))
check "restored data verifies" $V verify "$T/c.img" "$T/c.h" "$root"
flip "$T/c.h" $((10 * 4096 + 31))
check_fails "flipped level-0 hash byte: reported by block" \
	"^rootfs-verity: hash block 10 \(level 0\) is corrupted$" $V verify "$T/c.img" "$T/c.h" "$root"
check "flipped hash byte: veritysetup verify rejects it" fails veritysetup verify "$T/c.img" "$T/c.h" "$root"
flip "$T/c.h" $((10 * 4096 + 31))
flip "$T/c.h" $((3 * 4096 + 4000))
check_fails "non-zero padding in level 1: reported" \
	"^rootfs-verity: hash block 3 \(level 1\) is corrupted$" $V verify "$T/c.img" "$T/c.h" "$root"
flip "$T/c.h" $((3 * 4096 + 4000))
check_fails "wrong root hash: top block reported" "^rootfs-verity: hash block 1 \(level 2\) is corrupted$" \
	$V verify "$T/c.img" "$T/c.h" "${root%?}$( [ "${root: -1}" = 0 ] && echo 1 || echo 0)"
check "tree restored" $V verify "$T/c.img" "$T/c.h" "$root"

# Bad input: one line on stderr, non-zero exit, no crash.
d=$(data 129)
check_fails "missing data file" "^rootfs-verity: cannot open .*/nope: No such file" \
	$V format "$T/nope" "$T/x.h"
check_fails "hash file in a missing directory" "^rootfs-verity: cannot open .*/nodir/x.h" \
	$V format "$d" "$T/nodir/x.h" --salt -
: >"$T/empty"
check_fails "empty data" "is empty" $V format "$T/empty" "$T/x.h"
check_fails "salt not hex" "salt 'xyz' is not hex" $V format "$d" "$T/x.h" --salt xyz
check_fails "salt of odd length" "is not hex" $V format "$d" "$T/x.h" --salt abc
check_fails "salt over 256 bytes" "salt is longer than 256 bytes" \
	$V format "$d" "$T/x.h" --salt "$(printf 'ab%.0s' $(seq 257))"
check_fails "bad uuid" "bad UUID 'not-a-uuid'" $V format "$d" "$T/x.h" --uuid not-a-uuid
check_fails "data block size not a power of two" "bad --data-block-size '1000'" \
	$V format "$d" "$T/x.h" --data-block-size 1000
check_fails "hash block size too big" "bad --hash-block-size '1048576'" \
	$V format "$d" "$T/x.h" --hash-block-size 1048576
check_fails "block size too small" "bad --data-block-size '256'" $V format "$d" "$T/x.h" --data-block-size 256
check_fails "block size not a number" "bad --data-block-size" $V format "$d" "$T/x.h" --data-block-size 4k4
check_fails "unsupported hash" "unsupported hash 'md5'" $V format "$d" "$T/x.h" --hash md5
check_fails "data blocks overflow" "overflow" $V format "$d" "$T/x.h" --data-blocks 4503599627370496
check_fails "data blocks not a number" "bad --data-blocks" $V format "$d" "$T/x.h" --data-blocks -1
check_fails "more data blocks than the file has" "too small for 130 blocks" \
	$V format "$d" "$T/x.h" --data-blocks 130
check_fails "hash offset overflow" "does not fit in 64-bit sizes" \
	$V format "$d" "$T/x.h" --hash-offset 18446744073709551104
check_fails "hash offset not 512-aligned" "must be a multiple of 512" $V format "$d" "$T/x.h" --hash-offset 1000
check_fails "hash offset not block-aligned without superblock" "must be a multiple of 4096" \
	$V format "$d" "$T/x.h" --hash-offset 512 --no-superblock
cp "$d" "$T/same.img"
check_fails "same file, tree over the data" "overlaps the data" \
	$V format "$T/same.img" "$T/same.img" --hash-offset 4096
check "same file, refused: data untouched" cmp "$d" "$T/same.img"
check_fails "hash is a character device" "not a regular file or block device" $V format "$d" /dev/full
truncate -s 64K "$T/small.img"
loop=$(losetup -f --show "$T/small.img")
check_fails "hash block device too small" "^rootfs-verity: hash device too small" $V format "$(data 16385)" "$loop"
check_fails "verify: hash block device too small" "hash device too small" \
	$V verify "$(data 16385)" "$loop" "$root" --no-superblock
losetup -d "$loop"
check_fails "unknown option" "unknown option '--frobnicate'" $V format "$d" "$T/x.h" --frobnicate
check_fails "option without value" "needs a value" $V format "$d" "$T/x.h" --salt
check_fails "missing operand" "usage: format" $V format "$d"
check_fails "unknown command" "unknown command 'fromat'" $V fromat "$d" "$T/x.h"

rm -f "$T/x.h"
$V format "$d" "$T/x.h" --salt "$SALT" >"$T/ours.out"
root=$(tail -n1 "$T/ours.out")
check "verify with the superblock" $V verify "$d" "$T/x.h" "$root"
check_fails "verify: root hash not hex" "root hash must be 64 hex digits" $V verify "$d" "$T/x.h" xyz
check_fails "verify: root hash too short" "root hash must be 64 hex digits" $V verify "$d" "$T/x.h" "${root:0:62}"
check_fails "verify: no superblock there" "no valid verity superblock" $V verify "$d" "$d" "$root"
check_fails "verify: superblock offset not aligned" "no valid verity superblock" \
	$V verify "$d" "$T/x.h" "$root" --hash-offset 100
check_fails "verify: salt with a superblock" "need --no-superblock" $V verify "$d" "$T/x.h" "$root" --salt 00
check_fails "verify: data too small" "too small for 129 blocks" $V verify "$(data 128)" "$T/x.h" "$root"
check_fails "verify: missing hash file" "cannot open" $V verify "$d" "$T/nope" "$root"
check_fails "verify: uuid" "--uuid is for format only" $V verify "$d" "$T/x.h" "$root" --uuid "$UUID"
check_fails "verify: hash file too short for the tree" "hash device too small" \
	$V verify "$(data 16385)" "$T/vs.h" "$root" --no-superblock --data-blocks 16385

finish
