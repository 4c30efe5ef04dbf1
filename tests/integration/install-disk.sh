#!/usr/bin/env bash
# rootfs-install on a disk made by `rootfs-image disk`: a good install (checked
# with veritysetup, grub-editenv and rootfs-bootctl), stdin, zstd and
# --no-activate; then every refusal (tamper corpus, wrong compatible,
# downgrade, no space, truncated stream, busy, usage, config), each with its
# one-line message and documented exit code, slot A unchanged and the
# target never made bootable.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/testkeys.sh"
testkeys "$TOP/$B/testkeys" || { not_ok "testkeys"; finish; }
. "$TOP/tests/lib/install.sh"
D=$T/disk.img
install() { rootfs-install --config "$T/inst.conf" --disk "$D" --progress=none "$@"; }

mkfs a 24M && mkfs b 24M && mkfs big 60M || { not_ok "mkfs"; finish; }
mkupd a a 5 && mkupd b b 6 && mkupd b7 a 7 && mkupd old a 4 && mkupd big big 8 &&
	mkupd bz b 6 --compress zstd &&
	rootfs-image create --rootfs "$T/b.fs" --key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem" \
		--compatible other-gw --version 6 -o "$T/other.upd" >/dev/null ||
	{ not_ok "rootfs-image create"; finish; }
check "rootfs-image disk" rootfs-image disk -o "$D" --slot-a "$T/a.upd" --slot-size 40M --keyring "$TK/keyring"
for n in 1 2 3; do part "$D" "$n"; done # cached here, in the main shell
cp --sparse=always "$D" "$T/pristine.img"
A0=$(slot_sha "$D" 2)
check_eq "fresh disk boots A" "$(envvar "$D" ROOTFS_GOOD)" A
check "fresh disk: B not bootable" b_not_bootable "$D"
check_eq "fresh disk: rootfs-bootctl agrees" "$(status "$D" "s['booted'], s['slots'][1]['attempts']")" "A 0"

# --- refusals before any write: the environment stays byte for byte
env0=$(grubenv "$D")
# refuse NAME CODE REGEX ARGS...: exit CODE, one line matching REGEX, A and env intact
refuse() {
	local name=$1 code=$2 re=$3; shift 3
	check_fails "$name: refused" "$re" "$@"
	check_eq "$name: exit $code" "$CHECK_RC" "$code"
	check "$name: B not bootable" b_not_bootable "$D"
	check_eq "$name: slot A unchanged" "$(slot_sha "$D" 2)" "$A0"
}

refuse "wrong compatible (option)" 4 "update is for 'test-gw', this device is 'other-gw'" \
	install --compatible other-gw "$T/b.upd"
refuse "wrong compatible (image)" 4 "update is for 'other-gw'" install "$T/other.upd"
refuse "downgrade below running" 5 "version 4 is older than the running 5" install "$T/old.upd"
refuse "downgrade with only --allow-downgrade" 5 "older" install --allow-downgrade "$T/old.upd"
refuse "does not fit" 6 "does not fit|more than slot B" install "$T/big.upd"
refuse "untrusted keyring" 3 "." install --keyring "$TK/other-ca.pem" "$T/b.upd"
refuse "missing keyring" 10 "keyring" install --keyring "$T/nonexistent" "$T/b.upd"
refuse "missing source" 7 "nonexistent.upd" install "$T/nonexistent.upd"
refuse "plain http" 2 "plain http is not allowed" install "http://127.0.0.1:1/b.upd"
refuse "busy" 9 "another install is running" flock "$D" rootfs-install --config "$T/inst.conf" --disk "$D" "$T/b.upd"
check_eq "refusals left the environment as it was" "$(grubenv "$D")" "$env0"

check_fails "usage: no source" "missing SOURCE" rootfs-install --disk "$D"
check_fails "usage: bad attempts" "--attempts" rootfs-install --attempts 10 "$T/b.upd"
check_fails "usage: bad progress" "--progress" rootfs-install --progress=fancy "$T/b.upd"
check_eq "usage: exit 2" "$CHECK_RC" 2
printf '[device]\ncompatibel = x\n' >"$T/bad.conf"
check_fails "config: unknown key" "bad.conf: line 2: unknown key" rootfs-install --config "$T/bad.conf" "$T/b.upd"
check_eq "config: exit 10" "$CHECK_RC" 10
check "--help lists the exit codes" bash -c "rootfs-install --help | grep -q '9  busy'"

# --- the tamper corpus: every part of the image, truncations, extra bytes, signers
hdr() { od -An -tu4 -j "$2" -N 4 "$1" | tr -d ' '; }
U=$T/b.upd
MS=$(hdr "$U" 16) SS=$(hdr "$U" 20) RS=$(hdr "$U" 24)
PO=$((64 + MS + SS + RS)) SIZE=$(stat -c %s "$U")
flip() { # OUT OFFSET: a copy of U with one byte flipped
	local b; b=$(od -An -tu1 -j "$2" -N 1 "$U" | tr -d ' ')
	cp "$U" "$1" && printf '%b' "\\$(printf %03o $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
mkdir -p "$T/corpus"
flip "$T/corpus/header-magic" 0
flip "$T/corpus/header-sizes" 17
flip "$T/corpus/header-crc" 60
flip "$T/corpus/manifest" $((64 + 20))
flip "$T/corpus/manifest-last" $((64 + MS - 2))
flip "$T/corpus/manifest-sig" $((64 + MS + SS / 2))
flip "$T/corpus/roothash-sig" $((64 + MS + SS + RS / 2))
flip "$T/corpus/payload-first" "$PO"
flip "$T/corpus/payload-middle" $((PO + (SIZE - PO) / 2))
flip "$T/corpus/payload-last" $((SIZE - 1))
head -c 40 "$U" >"$T/corpus/trunc-header"
head -c $((64 + MS / 2)) "$U" >"$T/corpus/trunc-manifest"
head -c $((PO - 10)) "$U" >"$T/corpus/trunc-sig"
head -c "$PO" "$U" >"$T/corpus/trunc-no-payload"
head -c $((SIZE - 4096)) "$U" >"$T/corpus/trunc-payload"
{ cat "$U"; printf x; } >"$T/corpus/trailing-byte"
# mix and match: b7's signed head (another filesystem of the same size) on b's payload
PO7=$((64 + $(hdr "$T/b7.upd" 16) + $(hdr "$T/b7.upd" 20) + $(hdr "$T/b7.upd" 24)))
head -c "$PO7" "$T/b7.upd" >"$T/corpus/mixed"; tail -c +$((PO + 1)) "$U" >>"$T/corpus/mixed"
# header fields edited with a valid CRC: sizes that disagree with the signed parts
python3 - "$U" "$T/corpus" <<'EOF'
import struct, sys, zlib
src, out = sys.argv[1], sys.argv[2]
data = open(src, 'rb').read()
def edit(name, off, fmt, delta):
    h = bytearray(data[:64])
    v, = struct.unpack_from(fmt, h, off)
    struct.pack_into(fmt, h, off, v + delta)
    struct.pack_into('<I', h, 60, zlib.crc32(bytes(h[:60])))
    open(out + '/' + name, 'wb').write(bytes(h) + data[64:])
edit('header-payload-size-crc-ok', 40, '<Q', 4096)
edit('header-manifest-size-crc-ok', 16, '<I', -1)
edit('header-sig-size-crc-ok', 20, '<I', 1)
EOF
# a zstd image with a flipped byte inside its compressed payload
ZMS=$(hdr "$T/bz.upd" 16) ZSS=$(hdr "$T/bz.upd" 20) ZRS=$(hdr "$T/bz.upd" 24)
ZPO=$((64 + ZMS + ZSS + ZRS)) ZSIZE=$(stat -c %s "$T/bz.upd")
U=$T/bz.upd flip "$T/corpus/zstd-payload" $((ZPO + (ZSIZE - ZPO) / 2))
head -c $((ZSIZE - 10)) "$T/bz.upd" >"$T/corpus/zstd-truncated"
for s in other-signing expired revoked email; do
	rootfs-image create --rootfs "$T/b.fs" --key "$TK/$s.key" --cert "$TK/$s.pem" --compatible test-gw \
		--version 6 -o "$T/corpus/signer-$s" >/dev/null 2>&1 || cp "$T/corpus/header-magic" "$T/corpus/signer-$s"
done
for c in "$T"/corpus/*; do
	n=$(basename "$c")
	refuse "tamper $n" 3 "." install --crl "$TK/crls" "$c"
done
# a truncated stream on stdin (no size to compare before the payload)
check_fails "truncated stdin: refused" "truncated" \
	bash -c "head -c $((SIZE - 100000)) '$U' | rootfs-install --config '$T/inst.conf' --disk '$D' -"
check "truncated stdin: B not bootable" b_not_bootable "$D"
check "tamper corpus: log has one failure line each" \
	test "$(grep -c '"outcome":"failure"' "$T/install.log")" -ge 20

# --- a good install
check "install B (--attempts 2)" install --attempts 2 "$T/b.upd"
check "veritysetup verify accepts slot B with the signed root hash" verify_slot "$D" 3 "$U"
PS=$(field "$U" payload_size)
check "slot B holds the filesystem" cmp -n "$PS" "$T/slot.img" "$T/b.fs"
check_eq "grubenv: ORDER" "$(envvar "$D" ORDER)" "B A"
check_eq "grubenv: B_LEFT = --attempts" "$(envvar "$D" B_LEFT)" 2
check_eq "grubenv: ROOTFS_GOOD still A" "$(envvar "$D" ROOTFS_GOOD)" A
check_eq "rootfs-bootctl: B first with 2 attempts, version 6" \
	"$(status "$D" "s['order'][0], s['slots'][1]['attempts'], s['slots'][1]['version'], s['slots'][1]['footer']")" \
	"B 2 6 ok"
check_eq "slot A unchanged" "$(slot_sha "$D" 2)" "$A0"
check_eq "log: success line" "$(tail -1 "$T/install.log" | python3 -c "
import json,sys; r=json.load(sys.stdin); print(r['outcome'], r['from_version'], r['to_version'], r['target'], r['bytes'])")" \
	"success 5 6 B $PS"

# --- from stdin, zstd, --no-activate (A still the booted slot: B is the target again)
check "install from stdin (zstd)" bash -c "cat '$T/bz.upd' | rootfs-install --config '$T/inst.conf' --disk '$D' --progress=none -"
check_eq "stdin: B tried" "$(envvar "$D" B_LEFT)" 3
check "--no-activate" install --no-activate "$T/b7.upd"
check "--no-activate: B written but not bootable" b_not_bootable "$D"
check_eq "--no-activate: B's footer says 7" "$(status "$D" "s['slots'][1]['version']")" 7
check "activated later with rootfs-bootctl" rootfs-bootctl --disk "$D" set-next B
check_eq "then B is tried" "$(envvar "$D" ORDER)" "B A"
json_ok() { install --progress=json "$1" | tail -1 | grep -q '"outcome":"success"'; }
check "json progress ends with a success line" json_ok "$T/b.upd"
# on a terminal (script(1) gives it one) the default is a bar with percent, MB/s and ETA
bar_ok() {
	script -qec "rootfs-install --config '$T/inst.conf' --disk '$D' '$T/b.upd'" /dev/null >"$T/bar.out" &&
	grep -q '100% \[#*\] *[0-9.]* MB/s  ETA 0:00' "$T/bar.out"
}
check "progress bar on a terminal" bar_ok
check_eq "slot A still unchanged" "$(slot_sha "$D" 2)" "$A0"

# --- a downgrade when both the configuration and the option allow it
cp --sparse=always "$T/pristine.img" "$D"
printf '[install]\nallow_downgrade = yes\n' >>"$T/inst.conf"
refuse "downgrade allowed by the config only" 5 "older" install "$T/old.upd"
check "downgrade with config and --allow-downgrade" install --allow-downgrade "$T/old.upd"
check_eq "downgrade: B footer says 4" "$(status "$D" "s['slots'][1]['version']")" 4
finish
