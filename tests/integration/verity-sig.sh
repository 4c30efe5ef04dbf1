#!/usr/bin/env bash
# Root-hash and CMS signatures: rootfs-verity against openssl smime/cms in
# both directions, and every refusal with its one-line reason.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/testkeys.sh"
testkeys "$TOP/$B/testkeys" || { not_ok "testkeys"; finish; }

RH=$(printf 'rootfs-update test' | sha256sum | cut -c1-64)
OTHER=$(printf 'another rootfs' | sha256sum | cut -c1-64)
printf %s "$RH" >"$T/roothash.txt"
printf 'format=1\ncompatible=test-gateway\nversion=3\n' >"$T/manifest"
cat "$TK/dev-ca.pem" "$TK/dev-signing.pem" >"$T/ca-and-leaf.pem"

# sign NAME OUT [ARGS]: our root-hash signature with TK/NAME.{key,pem}
sign() { rootfs-verity sign "$RH" --key "$TK/$1.key" --cert "$TK/$1.pem" -o "$2" "${@:3}"; }
# ossl_sign NAME OUT [ARGS]: openssl's, the kernel recipe
ossl_sign() {
	openssl smime -sign -noattr -binary -in "$T/roothash.txt" -inkey "$TK/$1.key" \
		-signer "$TK/$1.pem" -outform der -out "$2" "${@:3}"
}
# csig SIG [KEYRING [ARGS]]: check-sig of $RH, against dev-ca by default
csig() { rootfs-verity check-sig "$RH" "$1" --keyring "${2:-$TK/dev-ca.pem}" "${@:3}"; }
# Code-signing certificates are not S/MIME ones: openssl needs -purpose any.
ossl_verify() {
	openssl smime -verify -binary -inform der -in "$1" -content "$T/roothash.txt" \
		-purpose any -out /dev/null "${@:2}"
}

# --- ours, checked by openssl
check "sign (certificates embedded)" sign dev-signing "$T/rh.p7s"
check "sign --nocerts" sign dev-signing "$T/rh-nocerts.p7s" --nocerts
check "openssl smime verifies ours" ossl_verify "$T/rh.p7s" -CAfile "$TK/dev-ca.pem"
check "openssl smime verifies ours (-nocerts, -certfile)" \
	ossl_verify "$T/rh-nocerts.p7s" -CAfile "$TK/dev-ca.pem" -certfile "$TK/dev-signing.pem"
check "openssl cms verifies ours" openssl cms -verify -binary -inform der -in "$T/rh.p7s" \
	-content "$T/roothash.txt" -CAfile "$TK/dev-ca.pem" -purpose any -out /dev/null
check "ours has no signed attributes" \
	bash -c "openssl cms -cmsout -print -inform der -in '$T/rh.p7s' | grep -A1 signedAttrs: | grep -q ABSENT"
# RSA PKCS#1 v1.5 is deterministic: the kernel form must carry the same
# signature value as openssl smime's (CMS leaves out the NULL parameters of
# the digest algorithm, which PKCS#7 writes; both are valid DER).
sigvalue() { openssl asn1parse -inform der -in "$1" | grep 'OCTET STRING' | tail -1 | sed 's/.*DUMP\]://'; }
check "RSA sign" sign rsa-signing "$T/rsa.p7s"
check "RSA sign --nocerts" sign rsa-signing "$T/rsa-nocerts.p7s" --nocerts
ossl_sign rsa-signing "$T/rsa-ossl.p7s"
ossl_sign rsa-signing "$T/rsa-ossl-nocerts.p7s" -nocerts
check_eq "RSA: signature value equals openssl smime -noattr's" \
	"$(sigvalue "$T/rsa.p7s")" "$(sigvalue "$T/rsa-ossl.p7s")"
check_eq "RSA: signature value equals openssl smime -noattr -nocerts's" \
	"$(sigvalue "$T/rsa-nocerts.p7s")" "$(sigvalue "$T/rsa-ossl-nocerts.p7s")"
check "sign-file (CMS)" rootfs-verity sign-file "$T/manifest" --key "$TK/dev-signing.key" \
	--cert "$TK/dev-signing.pem" -o "$T/manifest.cms"
check "openssl cms verifies our CMS" openssl cms -verify -binary -inform der -in "$T/manifest.cms" \
	-content "$T/manifest" -CAfile "$TK/dev-ca.pem" -purpose any -out /dev/null
check "openssl smime verifies our CMS" openssl smime -verify -binary -inform der -in "$T/manifest.cms" \
	-content "$T/manifest" -CAfile "$TK/dev-ca.pem" -purpose any -out /dev/null
check "our CMS carries a message digest" \
	bash -c "openssl cms -cmsout -print -inform der -in '$T/manifest.cms' | grep -q messageDigest"
check "file: URI key (OSSL_STORE)" rootfs-verity sign "$RH" --key "file:$TK/dev-signing.key" \
	--cert "$TK/dev-signing.pem" -o "$T/rh-uri.p7s"
check "file: URI signature verifies" ossl_verify "$T/rh-uri.p7s" -CAfile "$TK/dev-ca.pem"

# --- a key in a PKCS#11 token (softhsm2, through libp11's pkcs11 engine)
export SOFTHSM2_CONF=$T/softhsm2.conf
# libp11 leaks its method tables; full stacks so the suppressions match.
saved_asan=$ASAN_OPTIONS
export ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0
export LSAN_OPTIONS=suppressions=$TOP/tests/lib/libp11.supp:print_suppressions=0
mkdir -p "$T/tokens" && echo "directories.tokendir = $T/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label rfs-test --pin 1234 --so-pin 5678 >/dev/null &&
	softhsm2-util --import "$TK/dev-signing.key" --token rfs-test --label ec --id 01 --pin 1234 >/dev/null &&
	softhsm2-util --import "$TK/rsa-signing.key" --token rfs-test --label rsa --id 02 --pin 1234 >/dev/null ||
	not_ok "softhsm2 token setup"
P11="pkcs11:token=rfs-test;type=private"
check "sign with an EC key in a PKCS#11 token" rootfs-verity sign "$RH" --key "$P11;object=ec;pin-value=1234" \
	--cert "$TK/dev-signing.pem" -o "$T/p11-ec.p7s"
check "PKCS#11 EC signature verifies (openssl)" ossl_verify "$T/p11-ec.p7s" -CAfile "$TK/dev-ca.pem"
check "sign-file with an RSA key in a PKCS#11 token" rootfs-verity sign-file "$T/manifest" \
	--key "$P11;object=rsa;pin-value=1234" --cert "$TK/rsa-signing.pem" -o "$T/p11-rsa.cms"
check "PKCS#11 RSA CMS verifies (openssl cms)" openssl cms -verify -binary -inform der -in "$T/p11-rsa.cms" \
	-content "$T/manifest" -CAfile "$TK/dev-ca.pem" -purpose any -out /dev/null
check_fails "PKCS#11: wrong PIN" "key \(URI with PIN\) .*no such key at the URI" \
	rootfs-verity sign "$RH" --key "$P11;object=ec;pin-value=9999" --cert "$TK/dev-signing.pem" -o "$T/x.p7s"
check "PKCS#11: the PIN is not printed" bash -c "! grep -q 9999 '$T/.err'"
check_fails "PKCS#11: key of another certificate" "does not belong to the certificate" \
	rootfs-verity sign "$RH" --key "$P11;object=rsa;pin-value=1234" --cert "$TK/dev-signing.pem" -o "$T/x.p7s"
unset SOFTHSM2_CONF LSAN_OPTIONS
export ASAN_OPTIONS=$saved_asan

# --- openssl's, checked by us
check "ours verify ours" csig "$T/rh.p7s"
csig "$T/rh.p7s" >"$T/ok.out" 2>&1
check_eq "check-sig names the signer" "$(cat "$T/ok.out")" \
	"signature OK: O=rootfs-update, CN=rootfs-update development signing"
check "openssl smime -sign" ossl_sign dev-signing "$T/o.p7s"
check "openssl smime -sign -nocerts" ossl_sign dev-signing "$T/o-nocerts.p7s" -nocerts
check "check-sig accepts openssl's" csig "$T/o.p7s"
check "check-sig accepts openssl's -nocerts (signer in keyring)" csig "$T/o-nocerts.p7s" "$T/ca-and-leaf.pem"
check "check-sig accepts our -nocerts (signer in keyring)" csig "$T/rh-nocerts.p7s" "$T/ca-and-leaf.pem"
check_fails "-nocerts without the signer in the keyring" "no signer certificate" csig "$T/o-nocerts.p7s"
check_fails "-nocerts with only the signer (no CA)" "trusted CA" csig "$T/o-nocerts.p7s" "$TK/dev-signing.pem"
check "openssl cms -sign" openssl cms -sign -binary -in "$T/manifest" -inkey "$TK/rsa-signing.key" \
	-signer "$TK/rsa-signing.pem" -outform der -out "$T/o.cms"
check "check-file accepts openssl's CMS" \
	rootfs-verity check-file "$T/manifest" "$T/o.cms" --keyring "$TK/dev-ca.pem"
check "check-file accepts ours" \
	rootfs-verity check-file "$T/manifest" "$T/manifest.cms" --keyring "$TK/dev-ca.pem"
printf 'format=1\ncompatible=test-gateway\nversion=4\n' >"$T/manifest2"
check_fails "CMS over another file" "does not sign" \
	rootfs-verity check-file "$T/manifest2" "$T/manifest.cms" --keyring "$TK/dev-ca.pem"

# --- key rotation, chains
check "keyring directory: development key" csig "$T/rh.p7s" "$TK/keyring"
check "release sign" sign release-signing "$T/rel.p7s"
check "keyring directory: release key" csig "$T/rel.p7s" "$TK/keyring"
check_fails "release key, development CA only" "trusted CA" csig "$T/rel.p7s"
check "intermediate CA chain" rootfs-verity sign "$RH" --key "$TK/int-signing.key" \
	--cert "$TK/int-signing-chain.pem" -o "$T/int.p7s"
check "intermediate chain verifies (ours)" csig "$T/int.p7s" "$TK/roots.pem"
check "intermediate chain verifies (openssl)" ossl_verify "$T/int.p7s" -CAfile "$TK/root-ca.pem"

# --- refusals, one line each naming the reason
check "sign with the untrusted CA's key" sign other-signing "$T/untrusted.p7s"
check_fails "untrusted CA" "not trusted.*trusted CA" csig "$T/untrusted.p7s" "$TK/keyring"
check "sign with an expired cert" sign expired "$T/expired.p7s"
check_fails "expired certificate" "expired or not yet valid" csig "$T/expired.p7s"
check "sign with a not-yet-valid cert" sign future "$T/future.p7s"
check_fails "not-yet-valid certificate" "expired or not yet valid" csig "$T/future.p7s"
check "not-yet-valid certificate, --time in 2040" csig "$T/future.p7s" "" --time 2220000000
check "sign with a revoked cert" sign revoked "$T/revoked.p7s"
check "revoked cert without the CRL" csig "$T/revoked.p7s"
check_fails "revoked certificate (CRL file)" "revoked" csig "$T/revoked.p7s" "" --crl "$TK/dev-ca.crl"
check_fails "revoked certificate (CRL directory)" "revoked" \
	csig "$T/revoked.p7s" "$TK/keyring" --crl "$TK/crls"
check "good certificate with CRLs" csig "$T/rh.p7s" "$TK/keyring" --crl "$TK/crls"
check_fails "signature over another hash" "does not sign root hash $OTHER" \
	rootfs-verity check-sig "$OTHER" "$T/rh.p7s" --keyring "$TK/dev-ca.pem"
printf '%s\n' "$RH" >"$T/roothash-nl.txt"
openssl smime -sign -noattr -binary -in "$T/roothash-nl.txt" -inkey "$TK/dev-signing.key" \
	-signer "$TK/dev-signing.pem" -outform der -out "$T/nl.p7s"
check_fails "signature over the hash with a newline" "does not sign root hash" csig "$T/nl.p7s"
size=$(stat -c %s "$T/rh.p7s")
for n in 0 1 16 $((size / 2)) $((size - 1)); do
	head -c "$n" "$T/rh.p7s" >"$T/trunc.p7s"
	check_fails "truncated to $n bytes" "bad signature: .* is damaged" \
		csig "$T/trunc.p7s"
done
head -c 700 /dev/urandom >"$T/garbage.p7s"
check_fails "garbage" "bad signature: .* is damaged" csig "$T/garbage.p7s"
{ printf '\x30\x82\x02\x00'; head -c 512 /dev/urandom; } >"$T/garbage-seq.p7s"
check_fails "garbage in a DER SEQUENCE" "bad signature: .* is damaged" csig "$T/garbage-seq.p7s"
check "openssl smime -sign with an email-only cert" ossl_sign email "$T/email.p7s"
check_fails "no codeSigning usage" "not allowed for code signing" csig "$T/email.p7s"
check "openssl smime -sign with a keyEncipherment cert" ossl_sign keyenc "$T/keyenc.p7s"
check_fails "no digitalSignature usage" "not allowed for code signing" csig "$T/keyenc.p7s"
check "openssl smime -sign -md sha1" ossl_sign rsa-signing "$T/sha1.p7s" -md sha1
check_fails "SHA-1 digest" "weak digest" csig "$T/sha1.p7s"
check "openssl smime -sign with RSA 1024" ossl_sign weak-rsa "$T/weak.p7s"
check_fails "RSA 1024 signer" "key size" csig "$T/weak.p7s"

# --- images/mkkeys.sh: two separate hierarchies
check "mkkeys.sh" "$TOP/images/mkkeys.sh" "$T/keys"
check "mkkeys: development signing cert is for code signing" \
	bash -c "openssl x509 -in '$T/keys/dev-signing.pem' -noout -ext keyUsage,extendedKeyUsage |
		grep -q 'Digital Signature' && openssl x509 -in '$T/keys/dev-signing.pem' -noout -ext extendedKeyUsage |
		grep -q 'Code Signing'"
check "mkkeys: keys are private" bash -c "[ \"\$(stat -c %a '$T/keys/release-signing.key')\" = 600 ]"
rootfs-verity sign "$RH" --key "$T/keys/release-signing.key" --cert "$T/keys/release-signing.pem" \
	-o "$T/mk-rel.p7s" >/dev/null
check "mkkeys: release signature verifies with the release CA" csig "$T/mk-rel.p7s" "$T/keys/release-ca.pem"
check_fails "mkkeys: release signature is not trusted by the development CA" "trusted CA" \
	csig "$T/mk-rel.p7s" "$T/keys/dev-ca.pem"
check_fails "mkkeys: never overwrites keys" "exists, not overwriting" "$TOP/images/mkkeys.sh" "$T/keys"

# --- bad input to the tool itself
check_fails "sign: key of another cert" "does not belong to the certificate" \
	rootfs-verity sign "$RH" --key "$TK/dev-signing.key" --cert "$TK/release-signing.pem" -o "$T/x.p7s"
check_fails "sign: email-only cert refused" "not allowed for code signing" \
	rootfs-verity sign "$RH" --key "$TK/email.key" --cert "$TK/email.pem" -o "$T/x.p7s"
check_fails "sign: missing key" "No such file" \
	rootfs-verity sign "$RH" --key "$T/nope.key" --cert "$TK/dev-signing.pem" -o "$T/x.p7s"
check_fails "sign: no -o" "usage: sign ROOTHASH" \
	rootfs-verity sign "$RH" --key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem"
check_fails "sign: bad root hash" "not 64 or 128 hex digits" \
	rootfs-verity sign "abc" --key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem" -o "$T/x.p7s"
check_fails "check-sig: no keyring" "usage: check-sig" rootfs-verity check-sig "$RH" "$T/rh.p7s"
check_fails "check-sig: keyring missing" "cannot load keyring .*No such file" csig "$T/rh.p7s" "$T/nope"
check_fails "check-sig: keyring without certificates" "no certificate in it" \
	csig "$T/rh.p7s" "$TK/dev-signing.key"
check_fails "check-sig: --crl without CRLs" "no CRL" csig "$T/rh.p7s" "" --crl "$TK/dev-ca.pem"
check_fails "check-sig: signature file missing" "cannot read" csig "$T/nope.p7s"
head -c 70000 /dev/zero >"$T/huge.p7s"
check_fails "check-sig: huge signature file" "larger than" csig "$T/huge.p7s"
check_fails "check-sig: unknown option" "unknown option '--frobnicate'" csig "$T/rh.p7s" "" --frobnicate
finish
