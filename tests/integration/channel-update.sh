#!/usr/bin/env bash
# Automatic updates against a real nginx over TLS on 127.0.0.1: signed
# channel metadata made by `rootfs-image channel`, `rootfs-install --check`
# and `--channel` on a disk made by `rootfs-image disk`. A newer release is
# found and installed; a second run waits for the reboot; the same version
# is a no-op; expired metadata, a lower serial, an untrusted signer, another
# compatible and a substituted image are each refused with their own
# message; a server that answers 500 or never answers fails cleanly within
# the timeout and the next run backs off without contacting it.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/testkeys.sh"
testkeys "$TOP/$B/testkeys" || { not_ok "testkeys"; finish; }
. "$TOP/tests/lib/install.sh"
. "$TOP/tests/lib/nginx.sh"
D=$T/disk.img W=$T/www S=$T/state
mkdir -p "$W"

# upd NAME FS VERSION: an update image, signed by $SIGNER for $COMPAT
upd() {
	rootfs-image create --rootfs "$T/$2.fs" --key "$TK/${SIGNER:-dev-signing}.key" --cert "$TK/${SIGNER:-dev-signing}.pem" \
		--compatible "${COMPAT:-test-gw}" --version "$3" -o "$T/$1.upd" "${@:4}" >/dev/null
}
# chan OUT UPDATE URL SERIAL [EXPIRES [SIGNER]]: channel metadata into the web root
chan() {
	rootfs-image channel --update "$2" --url "$3" --serial "$4" --expires "${5:-14d}" \
		--key "$TK/${6:-dev-signing}.key" --cert "$TK/${6:-dev-signing}.pem" -o "$W/$1" >/dev/null
}
js() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
state() { sed -n "s/^$1=//p" "$S"; }
hits() { grep -c "GET /$1 " "$NGINX_ACCESS_LOG" || true; }

# $T/inst.conf (install.sh), with short timeouts
cat >>"$T/inst.conf" <<EOF
[tls]
connect_timeout = 2
low_speed_time = 2
retries = 1
EOF
# run ARGS...: one run of rootfs-install --disk; RC, $T/out, $T/err
run() {
	timeout 60 rootfs-install --config "$T/inst.conf" --disk "$D" --state "$S" --progress=none \
		--tls-ca "$NGINX_CA" "$@" >"$T/out" 2>"$T/err"
	RC=$?
}
# expect NAME CODE REGEX: the last run exited CODE and printed one line
# matching REGEX (stdout for 0/20/21 without --json, else stderr)
expect() {
	local name=$1 code=$2 re=$3 f=$T/err
	case $code in 0|20|21) f=$T/out ;; esac
	if [ "$RC" != "$code" ]; then
		not_ok "$name (exit $RC, wanted $code)"; sed 's/^/#   /' "$T/err" "$T/out" | tail -5; return
	fi
	if grep -q -E 'Sanitizer|runtime error' "$T/err"; then not_ok "$name (sanitizer)"; sed 's/^/#   /' "$T/err" | tail -20; return; fi
	if [ "$(wc -l <"$f")" != 1 ] || ! grep -q -E -- "$re" "$f"; then
		not_ok "$name (output does not match /$re/)"; sed 's/^/#   /' "$T/err" "$T/out" | tail -5; return
	fi
	ok "$name"
}
# a state that has accepted serial 10 (version 6), nothing pending, no failures
seed_state() {
	printf 'format=1\naccepted=1\nlast_serial=10\nlast_version=6\nfailures=0\nnext_attempt=0\nlast_attempt=0\nlast_success=0\npending_version=0\npending_slot=-\nfailed_version=0\n' >"$S"
}

mkfs a 16M && mkfs b 16M && mkfs c 16M || { not_ok "mkfs"; finish; }
# c7x substitutes c7: validly signed, the same size (RSA signatures have
# a fixed length), other bytes (another random salt)
upd a a 5 && upd b b 6 && SIGNER=rsa-signing upd c7 c 7 && SIGNER=rsa-signing upd c7x c 7 &&
	COMPAT=other-gw upd other c 7 || { not_ok "rootfs-image create"; finish; }
check "rootfs-image disk" rootfs-image disk -o "$D" --slot-a "$T/a.upd" --slot-size 40M --keyring "$TK/keyring"
cp --sparse=always "$D" "$T/pristine.img"
A0=$(slot_sha "$D" 2) env0=$(status "$D" "s")
cp "$T/b.upd" "$T/c7.upd" "$T/other.upd" "$W/"
mkdir -p "$W/images" && cp "$T/b.upd" "$W/images/b-abs.upd"
nginx_start "$T/nginx" "$W" || { not_ok "nginx_start"; finish; }
URL=https://localhost:$NGINX_OK

# --- the writer
check "rootfs-image channel" chan stable.channel "$T/b.upd" b.upd 10
check "channel text carries the image's size and sha256" \
	grep -qx "sha256=$(sha256sum "$T/b.upd" | cut -c1-64)" "$W/stable.channel"
check_eq "channel name from the file name" "$(sed -n 's/^channel=//p' "$W/stable.channel")" stable
n=$(grep -n '^-----BEGIN CMS-----$' "$W/stable.channel" | cut -d: -f1)
head -n $((n - 1)) "$W/stable.channel" >"$T/text"
tail -n +"$n" "$W/stable.channel" >"$T/sig.pem"
check "openssl cms verifies the detached signature over the text" \
	openssl cms -verify -binary -inform PEM -in "$T/sig.pem" -content "$T/text" -CAfile "$TK/dev-ca.pem" \
	-purpose any -out /dev/null
check_fails "writer: bad --expires" "--expires must be" rootfs-image channel --update "$T/b.upd" --url x \
	--serial 1 --expires soon --key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem" -o "$T/x.channel"
check_fails "writer: not an update image" "not an update image" rootfs-image channel --update "$T/a.fs" \
	--url x --serial 1 --expires 1d --key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem" -o "$T/x.channel"

# --- a newer release is found, then installed
run --check "$URL/stable.channel"
expect "--check: update available" 0 "update available: version 6 \(running 5\)"
run --check "$URL/stable.channel" --json
check_eq "--check --json" "$(js "j['outcome'], j['running_version'], j['channel']['version'], j['channel']['serial'], j['channel']['url']" <"$T/out")" \
	"update-available 5 6 10 $URL/b.upd"
check_eq "state: serial 10 accepted" "$(state last_serial) $(state failures)" "10 0"
check_eq "--check wrote nothing to the disk" "$(slot_sha "$D" 2) $(status "$D" "s")" "$A0 $env0"
run --channel "$URL/stable.channel"
expect "--channel: installed" 0 "installed version 6 into slot B"
check_eq "slot B holds version 6 and is tried next" "$(status "$D" "s['order'][0], s['slots'][1]['version'], s['slots'][1]['footer']")" \
	"B 6 ok"
check_eq "slot A unchanged" "$(slot_sha "$D" 2)" "$A0"
check_eq "state: pending 6 in B" "$(state pending_version) $(state pending_slot)" "6 B"
check "log: the check and the install" python3 -c "
import json,sys
recs=[json.loads(l) for l in open('$T/install.log')]
assert any(r['outcome']=='success' and r['to_version']=='6' and r['target']=='B' for r in recs), recs
assert any(r['outcome']=='installed' and r['source']=='$URL/stable.channel' for r in recs), recs
assert any(r['outcome']=='update-available' for r in recs), recs"

# --- installed, not rebooted: nothing is fetched or installed again
h0=$(hits stable.channel)
run --channel "$URL/stable.channel"
expect "second --channel: waits for the reboot" 21 "version 6 is installed in slot B and waits for a reboot"
check_eq "pending: the server was not contacted" "$(hits stable.channel)" "$h0"

# --- rebooted into B and confirmed: the same version is a no-op
echo "rootfs.slot=b" >"$T/cmdline"
check "boot B and confirm it" rootfs-bootctl --disk "$D" --cmdline "$T/cmdline" mark-good
bh=$(hits b.upd)
run --channel "$URL/stable.channel"
expect "same version: up to date" 20 "up to date: version 6 is running, the channel offers 6"
check_eq "same version: the image was not fetched" "$(hits b.upd)" "$bh"
check_eq "state: nothing pending" "$(state pending_slot) $(state failed_version)" "- 0"

# --- an absolute image URL, and a release that did not stay booted
cp --sparse=always "$T/pristine.img" "$D"
seed_state
chan abs.channel "$T/b.upd" "$URL/images/b-abs.upd" 11
run --channel "$URL/abs.channel"
expect "absolute image URL: installed" 0 "installed version 6 into slot B"
check "rollback: B given up" rootfs-bootctl --disk "$D" mark-bad B
run --channel "$URL/abs.channel"
expect "a release that did not stick is not installed again" 20 "version 6 was installed before and did not stay booted"
check_eq "state: failed version 6" "$(state failed_version) $(state pending_slot)" "6 -"

# --- refusals, each with its own message; the disk is never touched
cp --sparse=always "$T/pristine.img" "$D"
refuse() { # NAME CODE REGEX CHANNEL: fresh state, one --channel run
	seed_state
	run --channel "$URL/$4"
	expect "$1: refused" "$2" "$3"
	check_eq "$1: disk unchanged" "$(slot_sha "$D" 2) $(status "$D" "s")" "$A0 $env0"
	check_eq "$1: counted as a failure" "$(state failures)" 1
}
chan expired.channel "$T/c7.upd" c7.upd 11 2020-01-01T00:00:00Z
refuse "expired metadata" 23 "channel metadata expired at 2020-01-01T00:00:00Z .*frozen" expired.channel
chan lower.channel "$T/c7.upd" c7.upd 9
refuse "lower serial" 23 "channel serial 9 is lower than the last accepted 10" lower.channel
chan reused.channel "$T/c7.upd" c7.upd 10
refuse "same serial, other release" 23 "channel serial 10 announced version 6 before and now 7" reused.channel
chan untrusted.channel "$T/c7.upd" c7.upd 11 14d other-signing
refuse "untrusted signer" 3 "channel signature: not signed by a trusted CA" untrusted.channel
chan other.channel "$T/other.upd" other.upd 11
refuse "wrong compatible" 4 "channel 'other' is for 'other-gw', this device is 'test-gw'" other.channel
sed 's/^version=7$/version=8/' "$W/lower.channel" >"$W/edited.channel"
refuse "metadata edited after signing" 3 "channel signature: does not match the signed data" edited.channel
check_eq "refused metadata never raised the accepted serial" "$(state last_serial)" 10
# substitution: a validly signed image of the same size, not the one announced
chan subst.channel "$T/c7.upd" subst.upd 11
cp "$T/c7x.upd" "$W/subst.upd"
check_eq "substitute has the announced size" "$(stat -c %s "$W/subst.upd")" "$(stat -c %s "$T/c7.upd")"
seed_state
run --channel "$URL/subst.channel"
expect "image sha256 differs from the channel's" 3 "sha256 differs from the channel's: refusing a substituted image" 
check_eq "substituted: B not bootable, A confirmed" \
	"$(status "$D" "s['slots'][1]['attempts'] == 0 or 'B' not in s['order'], s['slots'][0]['confirmed']")" "True True"
check_eq "substituted: slot A unchanged" "$(slot_sha "$D" 2)" "$A0"
check_eq "substituted: B has no footer" "$(status "$D" "s['slots'][1]['footer']")" none
check "log: every refusal has a line" python3 -c "
import json
recs=[json.loads(l) for l in open('$T/install.log')]
for w in ('expired at', 'lower than the last accepted', 'not signed by a trusted CA', 'other-gw', 'sha256 differs'):
    assert any(r['outcome'] in ('refused','failure') and w in (r['reason'] or '') for r in recs), w"
# a longer image than announced: never read past the channel's size
{ cat "$T/c7.upd"; printf x; } >"$W/subst.upd"
seed_state
run --channel "$URL/subst.channel"
expect "image size differs from the channel's" 8 "server announces [0-9]+ bytes, .* promises [0-9]+"
check_eq "longer image: B has no footer" "$(status "$D" "s['slots'][1]['footer']")" none
# the real image behind the same channel installs
cp "$T/c7.upd" "$W/subst.upd"
seed_state
run --channel "$URL/subst.channel"
expect "the announced image installs" 0 "installed version 7 into slot B"

# --- a broken server: 500, then silence; clean errors in time, then back-off
badserver() { # MODE -> BAD_PORT, BAD_COUNT
	BAD_COUNT=$T/bad-$1.count
	: >"$BAD_COUNT"
	python3 "$TOP/tests/lib/badhttps.py" "$1" "$T/nginx/localhost.pem" "$T/nginx/localhost.key" \
		"$T/bad-$1.port" "$BAD_COUNT" &
	_nginx_pids+=($!)
	for _ in $(seq 100); do [ -s "$T/bad-$1.port" ] && break; sleep 0.05; done
	BAD_PORT=$(cat "$T/bad-$1.port")
}
cp --sparse=always "$T/pristine.img" "$D"
seed_state
badserver 500
t0=$(date +%s)
run --check "https://localhost:$BAD_PORT/stable.channel"
expect "HTTP 500: a clean network error" 8 "HTTP status 500"
check "HTTP 500: within the timeout" test $(( $(date +%s) - t0 )) -le 10
check_eq "HTTP 500: one failure recorded" "$(state failures)" 1
check "HTTP 500: next attempt in 675..900 s" \
	test $(( $(state next_attempt) - $(date +%s) )) -ge 670 -a $(( $(state next_attempt) - $(date +%s) )) -le 900
c0=$(wc -l <"$BAD_COUNT")
run --check "https://localhost:$BAD_PORT/stable.channel"
expect "next run: backing off, says when" 22 "backing off after 1 failed attempt: next attempt at 20[0-9-]+T[0-9:]+Z \(in [0-9]+ s\)"
check_eq "next run: the server was not contacted" "$(wc -l <"$BAD_COUNT")" "$c0"
check_eq "back-off is logged" "$(tail -1 "$T/install.log" | js "j['outcome']")" backoff

sed -i 's/^next_attempt=.*/next_attempt=1/' "$S"
badserver silent
t0=$(date +%s)
run --check "https://localhost:$BAD_PORT/stable.channel"
el=$(( $(date +%s) - t0 ))
expect "no answer: a clean network error" 8 "[Tt]imed? ?out|timeout"
# connect_timeout 2 s, one retry after 0.25 s
check "no answer: within (retries + 1) x connect_timeout ($el s)" test "$el" -le 8
check_eq "no answer: the server was reached" "$(( $(wc -l <"$BAD_COUNT") > 0 ))" 1
check_eq "no answer: two consecutive failures" "$(state failures)" 2
check "no answer: the back-off doubled (1350..1800 s)" \
	test $(( $(state next_attempt) - $(date +%s) )) -ge 1345 -a $(( $(state next_attempt) - $(date +%s) )) -le 1800
run --channel "$URL/stable.channel"
expect "--channel backs off too" 22 "backing off after 2 failed attempts"
sed -i 's/^next_attempt=.*/next_attempt=1/' "$S"
run --check "$URL/stable.channel"
expect "after the back-off: a good answer" 0 "update available"
check_eq "a good answer resets the failures" "$(state failures) $(state next_attempt)" "0 0"

# --- the systemd units that run --channel
mkdir -p "$T/units"
sed "s|/usr/local/bin/rootfs-install|$BIN/rootfs-install|" "$TOP/installer/systemd/rootfs-update.service" \
	>"$T/units/rootfs-update.service"
cp "$TOP/installer/systemd/rootfs-update.timer" "$T/units/"
check "systemd-analyze verify accepts the service and the timer" \
	env SYSTEMD_LOG_LEVEL=info systemd-analyze verify "$T/units/rootfs-update.service" "$T/units/rootfs-update.timer"
for k in OnBootSec OnUnitActiveSec RandomizedDelaySec; do
	check "timer sets $k" grep -q "^$k=[1-9]" "$T/units/rootfs-update.timer"
done
check "service runs --channel" grep -q '^ExecStart=.*rootfs-install --channel ' "$T/units/rootfs-update.service"
for c in 20 21 22; do
	check "exit $c is a success for the unit and documented in --help" bash -c \
		"grep -q '^SuccessExitStatus=.*\\b$c\\b' '$T/units/rootfs-update.service' && rootfs-install --help | grep -q '^  $c  '"
done

# --- usage and local trouble
check_fails "usage: --check with a SOURCE" "take no SOURCE" rootfs-install --check "$URL/x" "$T/b.upd"
check_fails "usage: --json without --check" "go with --check" rootfs-install --json "$T/b.upd"
check_fails "usage: --channel with --no-activate" "does not go with --channel" \
	rootfs-install --channel "$URL/stable.channel" --no-activate
printf 'garbage\n' >"$S"
run --check "$URL/stable.channel"
expect "damaged state file: refused, not reset" 10 "state file .*: state file line without '='"
rm -f "$S"
run --check "http://127.0.0.1:$NGINX_HTTP/stable.channel"
expect "plain http refused" 2 "plain http is not allowed"
finish
