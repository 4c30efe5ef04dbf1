#!/usr/bin/env bash
# Tamper corpus, generated here: every single-byte flip of the header, the
# manifest and both signatures, samples across the payload, truncation at
# each section boundary, oversized parts, a payload longer or shorter than
# the manifest says, fields edited after signing, parts swapped between
# images. Each variant must be refused (exit 1, not a crash) with ONE line
# on stderr naming the problem.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/testkeys.sh"
testkeys "$TOP/$B/testkeys" || { not_ok "testkeys"; finish; }

mkdir -p "$T/root" && head -c 100000 /dev/urandom >"$T/root/blob" && echo v1 >"$T/root/version"
mksquashfs "$T/root" "$T/fs.sqfs" -quiet -noappend >/dev/null
truncate -s 1M "$T/fs.ext4" && mkfs.ext4 -q -d "$T/root" "$T/fs.ext4"
sign=(--key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem" --compatible acme-gw-1 --version 3)
rootfs-image create --rootfs "$T/fs.sqfs" "${sign[@]}" --compress zstd -o "$T/z.rfsu" >/dev/null
rootfs-image create --rootfs "$T/fs.ext4" "${sign[@]}" -o "$T/raw.rfsu" >/dev/null
echo v2 >"$T/root/version"
mksquashfs "$T/root" "$T/fs2.sqfs" -quiet -noappend >/dev/null
rootfs-image create --rootfs "$T/fs2.sqfs" "${sign[@]}" --compress zstd -o "$T/z2.rfsu" >/dev/null
check "the untouched images verify" bash -c "rootfs-image verify '$T/z.rfsu' --keyring '$TK/keyring' &&
	rootfs-image verify '$T/raw.rfsu' --keyring '$TK/keyring' && rootfs-image verify '$T/z2.rfsu' --keyring '$TK/keyring'"

cat >"$T/tamper.py" <<'EOF'
import concurrent.futures as cf, os, re, struct, subprocess, sys, threading, zlib

tk, work = sys.argv[1], sys.argv[2]
keyring = tk + '/keyring'
local = threading.local()
counter = iter(range(10**9))
lock = threading.Lock()

def load(name):
    return open(os.path.join(work, name), 'rb').read()

def layout(d):
    ms, ss, rs = struct.unpack_from('<III', d, 16)
    return ms, ss, rs, 64 + ms + ss + rs

def header(ms, ss, rs, psize, base=None):
    h = bytearray(base[:64]) if base else bytearray(64)
    if not base:
        h[0:8] = b'RFSUPDT1'
        struct.pack_into('<II', h, 8, 1, 64)
    struct.pack_into('<III', h, 16, ms, ss, rs)
    struct.pack_into('<QQ', h, 32, 64 + ms + ss + rs, psize)
    struct.pack_into('<I', h, 60, zlib.crc32(bytes(h[:60])))
    return bytes(h)

def assemble(base, manifest=None, cms=None, p7s=None, payload=None, psize=None):
    ms, ss, rs, off = layout(base)
    parts = [base[64:64 + ms], base[64 + ms:64 + ms + ss], base[64 + ms + ss:off], base[off:]]
    for i, v in enumerate((manifest, cms, p7s, payload)):
        if v is not None:
            parts[i] = v
    size = struct.unpack_from('<Q', base, 40)[0] if psize is None else psize
    return header(len(parts[0]), len(parts[1]), len(parts[2]), size) + b''.join(parts)

def run(data, cmd):
    """-> None when refused properly, else a description."""
    path = os.path.join(work, 'v%d.rfsu' % next(counter))
    with open(path, 'wb') as f:
        f.write(data)
    p = subprocess.run(['rootfs-image', cmd, path, '--keyring', keyring], capture_output=True, text=True)
    os.unlink(path)
    err = p.stderr.strip('\n')
    if p.returncode == 0:
        return 'accepted'
    if p.returncode != 1:
        return 'exit %d: %s' % (p.returncode, err[-300:])
    if 'Sanitizer' in err or 'runtime error' in err:
        return 'sanitizer: ' + err[-300:]
    if len(err.split('\n')) != 1:
        return 'more than one line: ' + err[-300:]
    return err

failed = False
def case(name, regex, jobs):
    """jobs: list of (label, data, cmd); every one must fail matching regex."""
    bad = []
    with cf.ThreadPoolExecutor(max_workers=2) as ex:
        for (label, _, _), msg in zip(jobs, ex.map(lambda j: run(j[1], j[2]), jobs)):
            if msg == 'accepted' or not re.search(regex, msg):
                bad.append('%s: %s' % (label, msg))
    global failed
    failed = failed or bool(bad)
    print(('ok - %s (%d variants)' if not bad else 'not ok - %s (%d variants)') % (name, len(jobs)))
    for b in bad[:10]:
        print('#   ' + b)
    sys.stdout.flush()

def flips(d, start, end, step=1):
    for i in range(start, end, step):
        v = bytearray(d)
        v[i] ^= 0xff if i % 2 else 0x01
        yield i, bytes(v)

# Every byte of the zstd image's head; every 7th of the other's (the
# signed part has the same form, and each run costs a process start).
# Under ASan a process start costs ~5x more: one manifest and signature
# byte in 3 (tests/unit/test_image_tamper.c flips every one in process,
# under ASan too).
san_step = 3 if os.environ.get('SANITIZED') else 1
for img, step, sstep in (('z.rfsu', san_step, san_step), ('raw.rfsu', 7, 7)):
    d = load(img)
    ms, ss, rs, off = layout(d)
    psize = len(d) - off
    what = lambda n: 'every' if n == 1 else 'one in %d:' % n
    case('%s: every header byte flipped' % img, r'update header|not an update image',
         [('@%d' % i, v, 'info') for i, v in flips(d, 0, 64)])
    case('%s: %s manifest byte flipped' % (img, what(step)), r'manifest signature: does not match',
         [('@%d' % i, v, 'info') for i, v in flips(d, 64, 64 + ms, step)])
    case('%s: %s manifest CMS byte flipped' % (img, what(sstep)), r'manifest signature: ',
         [('@%d' % i, v, 'info') for i, v in flips(d, 64 + ms, 64 + ms + ss, sstep)])
    case('%s: %s roothash.p7s byte flipped' % (img, what(sstep)), r'root hash signature: ',
         [('@%d' % i, v, 'info') for i, v in flips(d, 64 + ms + ss, off, sstep)])
    step = max(1, psize // 97)
    samples = list(flips(d, off, len(d), step)) + list(flips(d, len(d) - 1, len(d)))
    case('%s: payload bytes flipped (%d samples)' % (img, len(samples)),
         r'payload sha256 does not match|bad zstd payload|payload (longer|shorter) than|zstd payload ends',
         [('@%d' % i, v, 'verify') for i, v in samples])
    cuts = [0, 1, 63, 64, 64 + ms // 2, 64 + ms, 64 + ms + ss, off - 1]
    case('%s: truncated at each section boundary' % img, r'update image truncated in the (header|manifest|manifest signature|root hash signature)$',
         [('cut %d' % c, d[:c], 'info') for c in cuts])
    case('%s: truncated in the payload' % img, r'update image truncated in the payload',
         [('cut %d' % c, d[:c], 'verify') for c in (off, off + psize // 2, len(d) - 1)])
    case('%s: bytes after the payload' % img, r'bytes after the payload',
         [('+1', d + b'\0', 'verify'), ('+4096', d + bytes(4096), 'verify'), ('+image', d + d, 'verify')])
    case('%s: header payload size off by one' % img, r"differs from the manifest's stored_size",
         [('+1', header(ms, ss, rs, psize + 1, d) + d[64:] + b'\0', 'info'),
          ('-1', header(ms, ss, rs, psize - 1, d) + d[64:-1], 'info')])

d = load('z.rfsu')
ms, ss, rs, off = layout(d)
manifest = d[64:64 + ms]
big = manifest + b''.join(b'x-pad-%05d=%s\n' % (i, b'a' * 100) for i in range(160))
case('oversized manifest or signatures', r'(manifest|manifest signature|root hash signature) size in update header out of bounds',
     [('manifest 16385 (header)', header(16385, ss, rs, len(d) - off, d) + d[64:], 'info'),
      ('manifest %d bytes' % len(big), assemble(d, manifest=big), 'info'),
      ('cms 65537', header(ms, 65537, rs, len(d) - off, d) + d[64:], 'info'),
      ('p7s 65537', header(ms, ss, 65537, len(d) - off, d) + d[64:], 'info'),
      ('cms 0', header(ms, 0, rs, len(d) - off, d) + d[64:], 'info')])
case('payload offset not after the signatures', r'payload offset',
     [('offset+1', (lambda h: h[:32] + struct.pack('<Q', off + 1) + h[40:60] + struct.pack('<I', zlib.crc32(h[:32] + struct.pack('<Q', off + 1) + h[40:60])))(d[:64]) + d[64:], 'info')])

edits = [(b'compatible=acme-gw-1', b'compatible=acme-gw-2'), (b'compatible=acme-gw-1', b'compatible=other-product'),
         (b'version=3\n', b'version=4\n'), (b'version=3\n', b'version=1000\n'),
         (b'compression=zstd', b'compression=none'), (b'verity_data_blocks=', b'verity_data_blocks=1')]
jobs = []
for a, b in edits:
    assert a in manifest, a
    jobs.append((b.decode().strip(), assemble(d, manifest=manifest.replace(a, b, 1)), 'info'))
jobs.append(('x- key appended', assemble(d, manifest=manifest + b'x-note=unsigned\n'), 'info'))
case('manifest fields edited after signing', r'manifest signature: does not match', jobs)

d2 = load('z2.rfsu')
ms2, ss2, rs2, off2 = layout(d2)
case('parts swapped between two signed images (mix and match)', r"(manifest|root hash) signature: does not match|stored_size|payload sha256|bad zstd|root hash does not match|payload (longer|shorter)|truncated|bytes after",
     [('cms of the other image', assemble(d, cms=d2[64 + ms2:64 + ms2 + ss2]), 'info'),
      ('roothash.p7s of the other image', assemble(d, p7s=d2[64 + ms2 + ss2:off2]), 'info'),
      ('payload of the other image', assemble(d, payload=d2[off2:], psize=len(d2) - off2), 'verify'),
      ('manifest+cms of the other image', assemble(d, manifest=d2[64:64 + ms2], cms=d2[64 + ms2:64 + ms2 + ss2]), 'info')])
sys.exit(1 if failed else 0)
EOF

sanitized=
ldd "$(command -v rootfs-image)" | grep -q libasan && sanitized=1
SANITIZED=$sanitized python3 "$T/tamper.py" "$TK" "$T" || _failed=1

# Properly signed manifests whose payload_size does not fit the payload (a
# broken builder): the decompressed stream is longer or shorter than signed.
split() { python3 - "$@" <<-'EOF'
	import struct, sys
	d = open(sys.argv[1], 'rb').read()
	ms, ss, rs = struct.unpack_from('<III', d, 16)
	off = 64 + ms + ss + rs
	open(sys.argv[2] + '.manifest', 'wb').write(d[64:64 + ms])
	open(sys.argv[2] + '.p7s', 'wb').write(d[64 + ms + ss:off])
	open(sys.argv[2] + '.payload', 'wb').write(d[off:])
	EOF
}
join() { python3 - "$@" <<-'EOF'
	import struct, sys, zlib
	m, c, p, pl = (open(sys.argv[1] + s, 'rb').read() for s in ('.manifest', '.cms', '.p7s', '.payload'))
	h = bytearray(64); h[0:8] = b'RFSUPDT1'
	struct.pack_into('<IIIII', h, 8, 1, 64, len(m), len(c), len(p))
	struct.pack_into('<QQ', h, 32, 64 + len(m) + len(c) + len(p), len(pl))
	struct.pack_into('<I', h, 60, zlib.crc32(bytes(h[:60])))
	open(sys.argv[2], 'wb').write(bytes(h) + m + c + p + pl)
	EOF
}
resign() { openssl cms -sign -binary -in "$1.manifest" -signer "$TK/dev-signing.pem" -inkey "$TK/dev-signing.key" \
	-md sha256 -outform DER -out "$1.cms"; }
split "$T/z.rfsu" "$T/s"
blocks=$(sed -n 's/^verity_data_blocks=//p' "$T/s.manifest")
size=$(sed -n 's/^payload_size=//p' "$T/s.manifest")
resign "$T/s" && join "$T/s" "$T/resigned.rfsu"
check "re-signing an unchanged manifest with the same key verifies (the forgery path works)" \
	rootfs-image verify "$T/resigned.rfsu" --keyring "$TK/keyring"
# 25..27 blocks all have a one-block tree, so the manifest stays consistent.
sed -i "s/^payload_size=.*/payload_size=$((size - 4096))/; s/^verity_data_blocks=.*/verity_data_blocks=$((blocks - 1))/" "$T/s.manifest"
resign "$T/s" && join "$T/s" "$T/longer.rfsu"
check_fails "payload longer than the signed payload_size" "payload longer than the manifest says" \
	rootfs-image verify "$T/longer.rfsu" --keyring "$TK/keyring"
sed -i "s/^payload_size=.*/payload_size=$((size + 4096))/; s/^verity_data_blocks=.*/verity_data_blocks=$((blocks + 1))/" "$T/s.manifest"
resign "$T/s" && join "$T/s" "$T/shorter.rfsu"
check_fails "payload shorter than the signed payload_size" "payload shorter than the manifest says" \
	rootfs-image verify "$T/shorter.rfsu" --keyring "$TK/keyring"
check "info alone accepts them (the head is fine; only the payload is wrong)" \
	rootfs-image info "$T/shorter.rfsu" --keyring "$TK/keyring"
finish
