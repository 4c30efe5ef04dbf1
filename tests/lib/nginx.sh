# shellcheck shell=bash
# Sourced by tests: a real nginx on 127.0.0.1 with TLS, from a temp dir.
#
#   nginx_start DIR WWW   makes a test CA and certificates in DIR, starts
#                         /usr/sbin/nginx serving WWW (HTTP Range support is
#                         nginx's own) and sets:
#     NGINX_CA            the test CA certificate (PEM) the client should trust
#     NGINX_CLIENT_CERT/NGINX_CLIENT_KEY  a client certificate under that CA
#     NGINX_OK            port: certificate for localhost by the test CA
#     NGINX_MTLS          port: as NGINX_OK, and a client certificate is required
#     NGINX_OTHER         port: certificate for other.example by the test CA
#     NGINX_SELF          port: self-signed certificate for localhost
#     NGINX_EXPIRED       port: expired certificate for localhost by the test CA
#     NGINX_HTTP          port: plain http
#     NGINX_ACCESS_LOG    the access log (status and Range of every request)
#   nginx_stop            stops it (nginx_start chains this into the EXIT trap)
#   nginx_pin CERT        prints CERT's public key pin, sha256//BASE64
#   dropproxy_start TARGET_PORT BYTES DROPS  a TCP proxy (tests/lib/dropproxy.py)
#                         in front of TARGET_PORT that cuts each of the first
#                         DROPS connections after BYTES bytes towards the
#                         client; sets DROPPROXY_PORT. Stopped by nginx_stop.
#
# Everything is bounded: nginx_start waits at most 10 s for the ports.

_nginx_dir=
_nginx_pids=()

_nginx_free_ports() { # N -> N free TCP ports on 127.0.0.1, one a line
	python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

_nginx_q() { "$@" >/dev/null 2>&1; }

_nginx_certs() { # DIR
	local d=$1
	mkdir -p "$d/ca.db" || return 1
	: >"$d/ca.db/index.txt"
	echo 1000 >"$d/ca.db/serial"
	cat >"$d/ca.cnf" <<EOF
[ca]
default_ca = test_ca
[test_ca]
dir = $d/ca.db
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
certificate = $d/ca.pem
private_key = $d/ca.key
default_md = sha256
policy = policy_any
copy_extensions = copy
unique_subject = no
[policy_any]
commonName = supplied
[server]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth
[client]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
EOF
	_nginx_q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj "/CN=rootfs-update test TLS CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
	# name CN SAN EXT [STARTDATE ENDDATE]
	_nginx_issue() {
		local n=$1 cn=$2 san=$3 ext=$4 dates=()
		[ $# -ge 6 ] && dates=(-startdate "$5" -enddate "$6") || dates=(-days 30)
		_nginx_q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
			-addext "subjectAltName=$san" -keyout "$d/$n.key" -out "$d/$n.csr" &&
		_nginx_q openssl ca -batch -config "$d/ca.cnf" -extensions "$ext" "${dates[@]}" \
			-in "$d/$n.csr" -out "$d/$n.pem"
	}
	_nginx_issue localhost localhost "DNS:localhost,IP:127.0.0.1" server &&
	_nginx_issue other other.example "DNS:other.example" server &&
	_nginx_issue expired localhost "DNS:localhost,IP:127.0.0.1" server 20200101000000Z 20210101000000Z &&
	_nginx_issue client "test gateway" "DNS:gateway.test" client &&
	_nginx_q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$d/self.key" -out "$d/self.pem"
}

nginx_start() { # DIR WWW
	local d=$1 www=$2 ports
	mkdir -p "$d" || return 1
	d=$(cd "$d" && pwd)
	www=$(cd "$www" && pwd)
	_nginx_dir=$d
	_nginx_certs "$d" || { echo "nginx_start: cannot make certificates" >&2; return 1; }
	mapfile -t ports < <(_nginx_free_ports 6)
	NGINX_OK=${ports[0]} NGINX_MTLS=${ports[1]} NGINX_OTHER=${ports[2]}
	NGINX_SELF=${ports[3]} NGINX_EXPIRED=${ports[4]} NGINX_HTTP=${ports[5]}
	# shellcheck disable=SC2034 # for the callers
	NGINX_CA=$d/ca.pem NGINX_CLIENT_CERT=$d/client.pem NGINX_CLIENT_KEY=$d/client.key
	# shellcheck disable=SC2034
	NGINX_ACCESS_LOG=$d/access.log
	_tls_server() { # port cert [extra]
		cat <<EOF
    server {
        listen 127.0.0.1:$1 ssl;
        server_name localhost;
        ssl_certificate $d/$2.pem;
        ssl_certificate_key $d/$2.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ${3:-}
        location / { root $www; }
    }
EOF
	}
	{
		cat <<EOF
user root;
worker_processes 1;
error_log $d/error.log warn;
events { worker_connections 64; }
http {
    access_log $d/access.log combined;
    client_body_temp_path $d/tmp-body;
    proxy_temp_path $d/tmp-proxy;
    fastcgi_temp_path $d/tmp-fastcgi;
    uwsgi_temp_path $d/tmp-uwsgi;
    scgi_temp_path $d/tmp-scgi;
    default_type application/octet-stream;
    sendfile on;
    server {
        listen 127.0.0.1:$NGINX_HTTP;
        location / { root $www; }
    }
EOF
		_tls_server "$NGINX_OK" localhost
		_tls_server "$NGINX_MTLS" localhost "ssl_client_certificate $d/ca.pem; ssl_verify_client on;"
		_tls_server "$NGINX_OTHER" other
		_tls_server "$NGINX_SELF" self
		_tls_server "$NGINX_EXPIRED" expired
		echo "}"
	} >"$d/nginx.conf"
	_nginx_prev_trap=$(trap -p EXIT | sed "s/^trap -- '\(.*\)' EXIT$/\1/")
	# shellcheck disable=SC2064
	trap "nginx_stop; $_nginx_prev_trap" EXIT
	/usr/sbin/nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf" -g "daemon on; pid $d/pid;" ||
		{ echo "nginx_start: nginx failed: $(tail -3 "$d/error.log")" >&2; return 1; }
	for _ in $(seq 100); do
		curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$NGINX_HTTP/" && return 0
		sleep 0.1
	done
	echo "nginx_start: nginx does not answer" >&2
	return 1
}

nginx_stop() {
	local p
	for p in "${_nginx_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	_nginx_pids=()
	[ -n "$_nginx_dir" ] && [ -f "$_nginx_dir/pid" ] || return 0
	p=$(cat "$_nginx_dir/pid")
	kill -QUIT "$p" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null
	rm -f "$_nginx_dir/pid"
	return 0
}

nginx_pin() { # CERT
	printf 'sha256//%s\n' "$(openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | openssl enc -base64 -A)"
}

dropproxy_start() { # TARGET_PORT BYTES DROPS
	local pf
	pf=$(mktemp "${_nginx_dir:-/tmp}/dropproxy.XXXXXX")
	python3 "$(dirname "${BASH_SOURCE[0]}")/dropproxy.py" "$1" "$2" "$3" "$pf" &
	_nginx_pids+=($!)
	for _ in $(seq 100); do [ -s "$pf" ] && break; sleep 0.05; done
	DROPPROXY_PORT=$(cat "$pf")
	[ -n "$DROPPROXY_PORT" ]
}
