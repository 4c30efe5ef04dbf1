#!/usr/bin/env bash
# rootfs-install over HTTPS from a real nginx on 127.0.0.1 (test CA made
# here): a good install, mutual TLS with and without the client key, pins,
# refused server certificates (other hostname, self-signed, expired, unknown
# CA), HTTP errors, plain http policy, a server that promises more than the
# manifest, and connections dropped midway that are resumed with Range
# requests (the slot still verifies with the signed root hash) or, past the
# retry limit, fail cleanly.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/testkeys.sh"
testkeys "$TOP/$B/testkeys" || { not_ok "testkeys"; finish; }
. "$TOP/tests/lib/install.sh"
. "$TOP/tests/lib/nginx.sh"
D=$T/disk.img
W=$T/www
mkdir -p "$W"
# every install is bounded: short connect and low-speed timeouts
cat >>"$T/inst.conf" <<EOF
[tls]
connect_timeout = 5
low_speed_time = 5
retries = 3
EOF
install() { timeout 60 rootfs-install --config "$T/inst.conf" --disk "$D" --progress=none "$@"; }

mkfs a 16M && mkfs b 40M || { not_ok "mkfs"; finish; }
mkupd a a 1 && mkupd b b 2 || { not_ok "rootfs-image create"; finish; }
check "rootfs-image disk" rootfs-image disk -o "$D" --slot-a "$T/a.upd" --slot-size 48M --keyring "$TK/keyring"
for n in 1 2 3; do part "$D" "$n"; done # cached here, in the main shell
A0=$(slot_sha "$D" 2)
cp "$T/b.upd" "$W/b.upd"
{ cat "$T/b.upd"; head -c 5000 /dev/zero; } >"$W/longer.upd"
nginx_start "$T/nginx" "$W" || { not_ok "nginx_start"; finish; }
OK=https://localhost:$NGINX_OK

# refuse NAME REGEX ARGS...: network class (exit 8), env and slot A untouched
env0=$(grubenv "$D")
refuse() {
	local name=$1 re=$2; shift 2
	check_fails "$name: refused" "$re" "$@"
	check_eq "$name: exit 8" "$CHECK_RC" 8
	check "$name: B not bootable" b_not_bootable "$D"
}
refuse "unknown CA (system store)" "certificate" install "$OK/b.upd"
refuse "server certificate for another host" "no alternative certificate subject name matches" \
	install --tls-ca "$NGINX_CA" "https://localhost:$NGINX_OTHER/b.upd"
refuse "self-signed server certificate" "self-signed certificate" \
	install --tls-ca "$NGINX_CA" "https://localhost:$NGINX_SELF/b.upd"
refuse "expired server certificate" "certificate has expired" \
	install --tls-ca "$NGINX_CA" "https://localhost:$NGINX_EXPIRED/b.upd"
refuse "client certificate required, none given" "HTTP status 400|alert|handshake" \
	install --tls-ca "$NGINX_CA" "https://localhost:$NGINX_MTLS/b.upd"
refuse "wrong public-key pin" "pinned public key|PINNEDPUBKEY|pin" \
	install --tls-ca "$NGINX_CA" --tls-pin "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" "$OK/b.upd"
refuse "HTTP 404" "HTTP status 404" install --tls-ca "$NGINX_CA" "$OK/missing.upd"
refuse "server promises more than the manifest" "server announces [0-9]+ bytes, the signed manifest promises" \
	install --tls-ca "$NGINX_CA" "$OK/longer.upd"
refuse "connection refused" "onnect" install --tls-ca "$NGINX_CA" "https://localhost:1/b.upd"
# a server that accepts the connection and never answers: the connect
# timeout (1 s here, no retries) ends it
sed -e 's/^connect_timeout = .*/connect_timeout = 1/' -e 's/^retries = .*/retries = 0/' "$T/inst.conf" >"$T/fast.conf"
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(4)
print(s.getsockname()[1], flush=True); time.sleep(120)" >"$T/mute.port" &
MUTE_PID=$!
for _ in $(seq 50); do [ -s "$T/mute.port" ] && break; sleep 0.1; done
refuse "server that never answers" "timeout" timeout 60 rootfs-install --config "$T/fast.conf" --disk "$D" \
	--progress=none --tls-ca "$NGINX_CA" "https://localhost:$(cat "$T/mute.port")/b.upd"
kill "$MUTE_PID"; wait "$MUTE_PID" 2>/dev/null
check_fails "plain http refused without --allow-http" "plain http is not allowed" \
	install "http://127.0.0.1:$NGINX_HTTP/b.upd"
check_eq "plain http: exit 2" "$CHECK_RC" 2
check_eq "refusals left the environment as it was" "$(grubenv "$D")" "$env0"
check_eq "refusals left slot A as it was" "$(slot_sha "$D" 2)" "$A0"

# --- installs that work (each targets B again: A stays the confirmed slot)
good() { # NAME ARGS...: install works, B verifies and is tried
	local name=$1; shift
	: >"$NGINX_ACCESS_LOG"
	check "$name" install "$@"
	check "$name: veritysetup verify with the signed root hash" verify_slot "$D" 3 "$T/b.upd"
	check_eq "$name: B tried next" "$(envvar "$D" ORDER)" "B A"
	check_eq "$name: slot A unchanged" "$(slot_sha "$D" 2)" "$A0"
}
good "https with the test CA" --tls-ca "$NGINX_CA" "$OK/b.upd"
good "mutual TLS with the client key" --tls-ca "$NGINX_CA" --tls-cert "$NGINX_CLIENT_CERT" \
	--tls-key "$NGINX_CLIENT_KEY" "https://localhost:$NGINX_MTLS/b.upd"
good "right public-key pin" --tls-ca "$NGINX_CA" --tls-pin "$(nginx_pin "$T/nginx/localhost.pem")" "$OK/b.upd"
good "plain http with --allow-http" --allow-http "http://127.0.0.1:$NGINX_HTTP/b.upd"
good "credentials in the URL" --tls-ca "$NGINX_CA" "https://gw:s3cret@localhost:$NGINX_OK/b.upd?token=t0k"
check "log: URL without credentials or query" grep -q "\"source\":\"https://localhost:$NGINX_OK/b.upd\"" "$T/install.log"
no_secret() { ! grep -q -e s3cret -e t0k "$T/install.log"; }
check "log: no password or token anywhere" no_secret

# --- dropped connections: cut twice after 3 MB, resumed with Range from where it stopped
dropproxy_start "$NGINX_OK" 3000000 2 || not_ok "dropproxy_start"
good "resume after two dropped connections" --tls-ca "$NGINX_CA" "https://localhost:$DROPPROXY_PORT/b.upd"
check_eq "resume: two 206 answers to Range requests" "$(grep -c '" 206 ' "$NGINX_ACCESS_LOG")" 2
check "resume: log says success" bash -c "tail -1 '$T/install.log' | grep -q '\"outcome\":\"success\"'"
dropproxy_start "$NGINX_OK" 1000000 100 || not_ok "dropproxy_start"
check_fails "drops past the retry limit: refused" "no retries left" \
	install --tls-ca "$NGINX_CA" "https://localhost:$DROPPROXY_PORT/b.upd"
check_eq "drops past the retry limit: exit 8" "$CHECK_RC" 8
check "drops past the retry limit: B not bootable" b_not_bootable "$D"
check_eq "drops past the retry limit: slot A unchanged" "$(slot_sha "$D" 2)" "$A0"
finish
