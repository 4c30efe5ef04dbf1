# Sourced by tests: `testkeys DIR` makes (once, cached by DIR/.stamp, which
# holds a checksum of this file and images/mkkeys.sh) every certificate the
# signature tests need, good and bad, and sets TK=DIR. EC P-256 unless named.
#
#   dev-ca, release-ca          two trusted roots (mkkeys.sh); keyring/ holds both
#   dev-signing, release-signing  good code-signing certs under them
#   rsa-signing                 RSA 3072 under dev-ca
#   root-ca > int-ca > int-signing  chain; int-signing-chain.pem = leaf + int-ca
#   expired, future             dev-ca, validity 2020-2021 and 2040-2041
#   revoked                     dev-ca, listed in dev-ca.crl (crls/ holds all CRLs)
#   other-ca > other-signing    a CA nobody trusts
#   email                       extendedKeyUsage emailProtection only
#   keyenc                      keyUsage keyEncipherment only
#   weak-rsa, weak-ec           RSA 1024 and EC P-224 code-signing certs
#   roots.pem                   dev-ca + release-ca + root-ca in one file
testkeys() {
	local d=${1:?testkeys DIR} sum top
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	sum=$(cat "$top/tests/lib/testkeys.sh" "$top/images/mkkeys.sh" | sha256sum | cut -d' ' -f1)
	mkdir -p "$d" || return 1
	TK=$(cd "$d" && pwd)
	(
		flock 9 || exit 1
		[ "$(cat "$TK/.stamp" 2>/dev/null)" = "$sum" ] && exit 0
		find "$TK" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} + || exit 1
		# shellcheck source=../../images/mkkeys.sh
		. "$top/images/mkkeys.sh"
		_testkeys_make "$TK" || exit 1
		echo "$sum" >"$TK/.stamp"
	) 9>"$TK/.lock"
}

_testkeys_make() {
	local d=$1 n
	mk_main "$d" >/dev/null &&
	mk_cert "$d" dev-ca rsa-signing "/CN=test RSA signing" ext_codesign rsa &&
	mk_root_ca "$d" root-ca "/CN=test root CA" &&
	mk_cert "$d" root-ca int-ca "/CN=test intermediate CA" ext_subca &&
	mk_ca_config "$d" int-ca &&
	mk_cert "$d" int-ca int-signing "/CN=test intermediate signing" ext_codesign &&
	cat "$d/int-signing.pem" "$d/int-ca.pem" >"$d/int-signing-chain.pem" &&
	mk_cert "$d" dev-ca expired "/CN=test expired" ext_codesign ec 200101000000Z 210101000000Z &&
	mk_cert "$d" dev-ca future "/CN=test not yet valid" ext_codesign ec 400101000000Z 410101000000Z &&
	mk_cert "$d" dev-ca revoked "/CN=test revoked" ext_codesign &&
	mk_quiet openssl ca -config "$d/dev-ca.db/ca.cnf" -revoke "$d/revoked.pem" &&
	mk_root_ca "$d" other-ca "/CN=test untrusted CA" &&
	mk_cert "$d" other-ca other-signing "/CN=test untrusted signing" ext_codesign &&
	mk_cert "$d" dev-ca email "/CN=test email only" ext_email &&
	mk_cert "$d" dev-ca keyenc "/CN=test key encipherment" ext_keyenc &&
	mk_cert "$d" dev-ca weak-rsa "/CN=test weak RSA" ext_codesign rsa1024 &&
	mk_cert "$d" dev-ca weak-ec "/CN=test weak EC" ext_codesign ec224 || return 1
	mkdir -p "$d/crls" "$d/keyring" || return 1
	for n in dev-ca release-ca root-ca int-ca; do
		mk_quiet openssl ca -config "$d/$n.db/ca.cnf" -gencrl -out "$d/crls/$n.crl" || return 1
	done
	cp "$d/crls/dev-ca.crl" "$d/dev-ca.crl" &&
	cp "$d/dev-ca.pem" "$d/release-ca.pem" "$d/keyring/" &&
	echo "not a certificate, ignored" >"$d/keyring/README" &&
	cat "$d/dev-ca.pem" "$d/release-ca.pem" "$d/root-ca.pem" >"$d/roots.pem"
}
