#!/usr/bin/env bash
# rootfs-image create -> info/verify: the right keyring holds; another CA,
# an expired or a revoked signing certificate do not. The parts are also
# checked with the reference tools (openssl cms/smime, veritysetup).
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/testkeys.sh"
testkeys "$TOP/$B/testkeys" || { not_ok "testkeys"; finish; }

mkdir -p "$T/root/etc" && echo "VERSION_ID=3" >"$T/root/etc/os-release"
head -c 100000 /dev/urandom >"$T/root/blob"
mksquashfs "$T/root" "$T/fs.sqfs" -quiet -noappend >/dev/null
truncate -s 4M "$T/fs.ext4" && mkfs.ext4 -q -d "$T/root" "$T/fs.ext4"
mkfs.erofs "$T/fs.erofs" "$T/root" >/dev/null 2>&1
sign=(--key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem")

create() { # create OUT FS [ARGS...]
	local out=$1 fs=$2; shift 2
	rootfs-image create --rootfs "$fs" "${sign[@]}" --compatible acme-gw-1 --version 3 -o "$out" "$@"
}
field() { rootfs-image info "$1" | sed -n "s/^$2=//p"; }

check "create squashfs (zstd)" create "$T/sq.rfsu" "$T/fs.sqfs" --compress zstd --version-string "3.0 beta"
check "create ext4" create "$T/ext4.rfsu" "$T/fs.ext4"
check "create erofs" create "$T/erofs.rfsu" "$T/fs.erofs"
check_eq "fstype detected: squashfs" "$(field "$T/sq.rfsu" fstype)" squashfs
check_eq "fstype detected: ext4" "$(field "$T/ext4.rfsu" fstype)" ext4
check_eq "fstype detected: erofs" "$(field "$T/erofs.rfsu" fstype)" erofs
check_eq "compression recorded" "$(field "$T/sq.rfsu" compression)" zstd
check_eq "version string" "$(field "$T/sq.rfsu" version_string)" "3.0 beta"
check_eq "payload_size = filesystem size (already 4096-aligned)" "$(field "$T/ext4.rfsu" payload_size)" "$(stat -c %s "$T/fs.ext4")"

# An odd-sized image is padded with zeros, and the tool says so.
head -c 10000 "$T/fs.sqfs" >"$T/odd.img"
out=$(rootfs-image create --rootfs "$T/odd.img" "${sign[@]}" --fstype squashfs --compatible x --version 1 -o "$T/odd.rfsu")
check "padding is reported" grep -q "padded .* with 2288 zero bytes" <<<"$out"
check_eq "padded payload_size" "$(field "$T/odd.rfsu" payload_size)" 12288

# Deterministic with a fixed salt and SOURCE_DATE_EPOCH (reproducible builds).
SOURCE_DATE_EPOCH=1700000000 create "$T/r1.rfsu" "$T/fs.ext4" --salt 00ff >/dev/null
SOURCE_DATE_EPOCH=1700000000 create "$T/r2.rfsu" "$T/fs.ext4" --salt 00ff >/dev/null
check_eq "build_time from SOURCE_DATE_EPOCH" "$(field "$T/r1.rfsu" build_time)" 1700000000
check_eq "salt from --salt" "$(field "$T/r1.rfsu" verity_salt)" 00ff
check_eq "same manifest for the same input" "$(rootfs-image info "$T/r1.rfsu")" "$(rootfs-image info "$T/r2.rfsu")"

# The right keyring: a directory with both CAs, or the dev CA alone.
check "info: keyring directory holds" rootfs-image info "$T/sq.rfsu" --keyring "$TK/keyring"
check "info: dev CA file holds" rootfs-image info "$T/ext4.rfsu" --keyring "$TK/dev-ca.pem"
check "info: with the CRLs it still holds" rootfs-image info "$T/ext4.rfsu" --keyring "$TK/keyring" --crl "$TK/crls"
check "info names the signer" bash -c "rootfs-image info '$T/sq.rfsu' --keyring '$TK/keyring' | grep -q '^signature: valid (signer .*development signing)'"
check_eq "info --json: signature valid" "$(rootfs-image info --json "$T/sq.rfsu" --keyring "$TK/keyring" | python3 -c 'import json,sys; print(json.load(sys.stdin)["signature"])')" valid
check_eq "info --json: same fields as the manifest" "$(rootfs-image info --json "$T/sq.rfsu" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["compatible"], d["version"], d["verity_data_blocks"])')" "acme-gw-1 3 $(field "$T/sq.rfsu" verity_data_blocks)"
for f in sq ext4 erofs; do
	check "verify $f: payload and root hash" rootfs-image verify "$T/$f.rfsu" --keyring "$TK/keyring"
done
check "verify reads a pipe" bash -c "cat '$T/sq.rfsu' | rootfs-image verify - --keyring '$TK/keyring'"

# Wrong trust: another CA, the release CA only, expired, revoked.
check_fails "info: another CA" "manifest signature: not signed by a trusted CA" \
	rootfs-image info "$T/sq.rfsu" --keyring "$TK/other-ca.pem"
check_fails "info: release CA does not accept a dev-signed image" "not signed by a trusted CA" \
	rootfs-image info "$T/sq.rfsu" --keyring "$TK/release-ca.pem"
check_fails "verify: another CA" "not signed by a trusted CA" \
	rootfs-image verify "$T/sq.rfsu" --keyring "$TK/other-ca.pem"
create "$T/other.rfsu" "$T/fs.sqfs" --key "$TK/other-signing.key" --cert "$TK/other-signing.pem" >/dev/null
check_fails "info: signed under an untrusted CA" "manifest signature: not signed by a trusted CA" \
	rootfs-image info "$T/other.rfsu" --keyring "$TK/keyring"
create "$T/expired.rfsu" "$T/fs.sqfs" --key "$TK/expired.key" --cert "$TK/expired.pem" >/dev/null
check_fails "info: expired signing certificate" "manifest signature: certificate expired" \
	rootfs-image info "$T/expired.rfsu" --keyring "$TK/keyring"
create "$T/revoked.rfsu" "$T/fs.sqfs" --key "$TK/revoked.key" --cert "$TK/revoked.pem" >/dev/null
check "info: revoked certificate without CRLs holds" rootfs-image info "$T/revoked.rfsu" --keyring "$TK/keyring"
check_fails "info: revoked certificate with the CRL" "manifest signature: certificate revoked" \
	rootfs-image info "$T/revoked.rfsu" --keyring "$TK/keyring" --crl "$TK/crls"
check_fails "verify: revoked certificate with the CRL" "certificate revoked" \
	rootfs-image verify "$T/revoked.rfsu" --keyring "$TK/keyring" --crl "$TK/dev-ca.crl"
# A chain through an intermediate that the signer carries.
create "$T/int.rfsu" "$T/fs.sqfs" --key "$TK/int-signing.key" --cert "$TK/int-signing-chain.pem" >/dev/null
check "info: intermediate chain to root-ca holds" rootfs-image info "$T/int.rfsu" --keyring "$TK/root-ca.pem"

# The parts with the reference tools: CMS over the manifest, the kernel
# form over the hex root hash, and the root hash veritysetup computes.
split_parts() { # split_parts IMAGE DIR: header fields -> manifest, cms, p7s, payload
	python3 - "$1" "$2" <<-'EOF'
	import struct, sys
	d = open(sys.argv[1], 'rb').read()
	ms, ss, rs = struct.unpack_from('<III', d, 16)
	off, size = struct.unpack_from('<QQ', d, 32)
	parts = {'manifest': d[64:64+ms], 'cms': d[64+ms:64+ms+ss], 'p7s': d[64+ms+ss:off], 'payload': d[off:off+size]}
	for k, v in parts.items():
	    open(sys.argv[2] + '/' + k, 'wb').write(v)
	EOF
}
mkdir -p "$T/parts"
split_parts "$T/ext4.rfsu" "$T/parts"
root=$(field "$T/ext4.rfsu" verity_root_hash)
salt=$(field "$T/ext4.rfsu" verity_salt)
check "openssl cms verifies the manifest signature" openssl cms -verify -binary -inform DER -in "$T/parts/cms" \
	-content "$T/parts/manifest" -CAfile "$TK/dev-ca.pem" -purpose any -out /dev/null
printf %s "$root" >"$T/parts/roothash.txt"
check "openssl smime verifies roothash.p7s over the hex root hash" openssl smime -verify -binary -inform DER \
	-in "$T/parts/p7s" -content "$T/parts/roothash.txt" -CAfile "$TK/dev-ca.pem" -purpose any -out /dev/null
check "roothash.p7s has no signed attributes (kernel form)" \
	bash -c "! openssl cms -cmsout -print -inform DER -in '$T/parts/p7s' | grep -q 'signedAttrs:.*object'"
check "uncompressed payload is the filesystem" cmp "$T/parts/payload" "$T/fs.ext4"
check_eq "payload_sha256 = sha256sum" "$(field "$T/ext4.rfsu" payload_sha256)" "$(sha256sum <"$T/fs.ext4" | cut -d' ' -f1)"
vs=$(veritysetup format --no-superblock --salt="$salt" "$T/fs.ext4" "$T/hash.img" | awk '/Root hash:/ {print $3}')
check_eq "root hash = veritysetup format" "$root" "$vs"
check_eq "verity_tree_size = veritysetup's hash file" "$(field "$T/ext4.rfsu" verity_tree_size)" "$(stat -c %s "$T/hash.img")"
split_parts "$T/sq.rfsu" "$T/parts"
check "zstd payload decompresses to the filesystem (zstd -d)" bash -c "zstd -dq -c '$T/parts/payload' | cmp - '$T/fs.sqfs'"

# The signing key in a PKCS#11 token (softhsm2, libp11's engine, as sig.c).
export SOFTHSM2_CONF=$T/softhsm2.conf
saved_asan=$ASAN_OPTIONS
export ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0
export LSAN_OPTIONS=suppressions=$TOP/tests/lib/libp11.supp:print_suppressions=0
mkdir -p "$T/tokens" && echo "directories.tokendir = $T/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label rfs-img --pin 1234 --so-pin 5678 >/dev/null &&
	softhsm2-util --import "$TK/dev-signing.key" --token rfs-img --label ec --id 01 --pin 1234 >/dev/null ||
	not_ok "softhsm2 token setup"
check "create with a pkcs11: key URI" rootfs-image create --rootfs "$T/fs.sqfs" \
	--key "pkcs11:token=rfs-img;object=ec;type=private;pin-value=1234" --cert "$TK/dev-signing.pem" \
	--compatible acme-gw-1 --version 3 -o "$T/p11.rfsu"
check "the PKCS#11-signed image verifies" rootfs-image verify "$T/p11.rfsu" --keyring "$TK/keyring"
unset SOFTHSM2_CONF LSAN_OPTIONS
export ASAN_OPTIONS=$saved_asan

# Bad input: one clear line and a non-zero exit.
check_fails "create: missing rootfs" "cannot open the filesystem image" \
	rootfs-image create --rootfs "$T/nope" "${sign[@]}" --compatible x --version 1 -o "$T/x.rfsu"
head -c 8192 /dev/urandom >"$T/random.img"
check_fails "create: not a filesystem" "no ext4, squashfs or erofs filesystem" \
	rootfs-image create --rootfs "$T/random.img" "${sign[@]}" --compatible x --version 1 -o "$T/x.rfsu"
check_fails "create: --fstype contradicts the image" "--fstype does not match the filesystem" \
	rootfs-image create --rootfs "$T/fs.sqfs" "${sign[@]}" --fstype ext4 --compatible x --version 1 -o "$T/x.rfsu"
check_fails "create: bad key" "cannot load the signing key" \
	rootfs-image create --rootfs "$T/fs.sqfs" --key "$T/random.img" --cert "$TK/dev-signing.pem" --compatible x --version 1 -o "$T/x.rfsu"
check_fails "create: key and certificate do not match" "cannot load the signing key" \
	rootfs-image create --rootfs "$T/fs.sqfs" --key "$TK/release-signing.key" --cert "$TK/dev-signing.pem" --compatible x --version 1 -o "$T/x.rfsu"
check_fails "create: version with a sign" "--version must be a decimal" \
	rootfs-image create --rootfs "$T/fs.sqfs" "${sign[@]}" --compatible x --version -1 -o "$T/x.rfsu"
check_fails "create: compatible with a control character" "bad --compatible" \
	rootfs-image create --rootfs "$T/fs.sqfs" "${sign[@]}" --compatible "$(printf 'a\tb')" --version 1 -o "$T/x.rfsu"
check_fails "create: bad salt" "bad --salt" \
	rootfs-image create --rootfs "$T/fs.sqfs" "${sign[@]}" --compatible x --version 1 --salt xyz -o "$T/x.rfsu"
check_fails "create: unknown option" "unrecognized option|unknown" \
	rootfs-image create --bogus
check "failed create leaves no output or temp files" bash -c "! ls '$T'/x.rfsu* 2>/dev/null | grep -q ."
check_fails "info: no such file" "cannot open" rootfs-image info "$T/nope.rfsu"
check_fails "info: not an update image" "not an update image" rootfs-image info "$T/fs.sqfs"
check_fails "verify needs a keyring" "verify needs --keyring" rootfs-image verify "$T/sq.rfsu"
check_fails "info: bad keyring" "cannot load the keyring" rootfs-image info "$T/sq.rfsu" --keyring "$T/nope"
check_fails "unknown command" "unknown command" rootfs-image frobnicate
check "help" rootfs-image help
finish
