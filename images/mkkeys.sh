#!/usr/bin/env bash
# mkkeys.sh OUTDIR [-t ec|rsa]: development and release signing keys.
#
# Makes two independent hierarchies, so a development key can never sign a
# release (TUF "key compromise"): dev-ca + dev-signing, release-ca +
# release-signing. Signing certificates carry keyUsage digitalSignature and
# extendedKeyUsage codeSigning, which is what rootfs-verity accepts. EC P-256
# by default, RSA 3072 with -t rsa. Certificates are issued with `openssl ca`
# so the same CA can later revoke them (CRL) or issue certificates with
# chosen validity dates (tests/lib/testkeys.sh sources this file for that).
#
# Generated keys are secrets: keep them out of the source tree.

MK_ALG=${MK_ALG:-ec}

mk_quiet() { # run openssl, show its output only when it fails
	local out
	if ! out=$("$@" 2>&1); then
		printf '%s\n' "$out" >&2
		echo "mkkeys: failed: $*" >&2
		return 1
	fi
}

mk_key() { # mk_key FILE [ALG]: ec (P-256), ec224 (weak), rsa (3072), rsa1024 (weak)
	local f=$1 alg=${2:-$MK_ALG}
	case $alg in
	ec) mk_quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$f" ;;
	ec224) mk_quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-224 -out "$f" ;;
	rsa) mk_quiet openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$f" ;;
	rsa1024) mk_quiet openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$f" ;;
	*) echo "mkkeys: unknown key type '$alg'" >&2; return 1 ;;
	esac || return 1
	chmod 600 "$f"
}

# The openssl ca configuration of one CA: a database in DIR/NAME.db/, and
# the extension sections certificates are issued with.
mk_ca_config() { # mk_ca_config DIR NAME
	local db=$1/$2.db
	mkdir -p "$db/new" || return 1
	[ -f "$db/index.txt" ] || : >"$db/index.txt"
	[ -f "$db/serial" ] || echo 1000 >"$db/serial"
	[ -f "$db/crlnumber" ] || echo 1000 >"$db/crlnumber"
	cat >"$db/ca.cnf" <<EOF
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = $db
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = $1/$2.pem
private_key = $1/$2.key
default_md = sha256
default_days = 3650
default_crl_days = 3650
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
organizationName = optional
commonName = supplied
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ ext_root ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ ext_subca ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
[ ext_codesign ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
[ ext_email ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
[ ext_keyenc ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyEncipherment
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
EOF
}

mk_root_ca() { # mk_root_ca DIR NAME SUBJECT
	local d=$1 n=$2
	mk_key "$d/$n.key" || return 1
	mk_ca_config "$d" "$n" || return 1
	mk_quiet openssl req -new -x509 -config "$d/$n.db/ca.cnf" -key "$d/$n.key" -subj "$3" \
		-days 7300 -sha256 -extensions ext_root -out "$d/$n.pem"
}

# mk_cert DIR CA NAME SUBJECT EXT [ALG [STARTDATE ENDDATE]]: NAME.key and
# NAME.pem issued by CA with extension section EXT (dates as YYMMDDHHMMSSZ).
mk_cert() {
	local d=$1 ca=$2 n=$3 subj=$4 ext=$5 alg=${6:-$MK_ALG} dates=()
	[ $# -ge 8 ] && dates=(-startdate "$7" -enddate "$8")
	mk_key "$d/$n.key" "$alg" || return 1
	mk_quiet openssl req -new -config "$d/$ca.db/ca.cnf" -key "$d/$n.key" -subj "$subj" -out "$d/$n.csr" || return 1
	mk_quiet openssl ca -batch -notext -config "$d/$ca.db/ca.cnf" -extensions "$ext" \
		"${dates[@]}" -in "$d/$n.csr" -out "$d/$n.pem" || return 1
	rm -f "$d/$n.csr"
}

mk_main() {
	local out= opt
	while [ $# -gt 0 ]; do
		case $1 in
		-t) MK_ALG=${2:?}; shift 2 ;;
		-h|--help) echo "usage: mkkeys.sh OUTDIR [-t ec|rsa]"; return 0 ;;
		-*) echo "mkkeys: unknown option '$1'" >&2; return 2 ;;
		*) [ -z "$out" ] || { echo "mkkeys: one OUTDIR only" >&2; return 2; }; out=$1; shift ;;
		esac
	done
	[ -n "$out" ] || { echo "usage: mkkeys.sh OUTDIR [-t ec|rsa]" >&2; return 2; }
	case $MK_ALG in ec|rsa) ;; *) echo "mkkeys: -t takes ec or rsa" >&2; return 2 ;; esac
	# Never overwrite keys somebody may already have deployed.
	for opt in dev-ca dev-signing release-ca release-signing; do
		[ ! -e "$out/$opt.key" ] || { echo "mkkeys: $out/$opt.key exists, not overwriting" >&2; return 1; }
	done
	mkdir -p "$out" && out=$(cd "$out" && pwd) || return 1
	mk_root_ca "$out" dev-ca "/O=rootfs-update/CN=rootfs-update development CA" &&
	mk_cert "$out" dev-ca dev-signing "/O=rootfs-update/CN=rootfs-update development signing" ext_codesign &&
	mk_root_ca "$out" release-ca "/O=rootfs-update/CN=rootfs-update release CA" &&
	mk_cert "$out" release-ca release-signing "/O=rootfs-update/CN=rootfs-update release signing" ext_codesign ||
		return 1
	cat <<EOF
development CA:          $out/dev-ca.pem (key $out/dev-ca.key)
development signing:     $out/dev-signing.pem (key $out/dev-signing.key)
release CA:              $out/release-ca.pem (key $out/release-ca.key)
release signing:         $out/release-signing.pem (key $out/release-signing.key)
Devices trust a CA (rootfs-verity check-sig --keyring CA.pem); keep the
release keys offline and never ship the development CA in a release.
EOF
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	mk_main "$@"
fi
