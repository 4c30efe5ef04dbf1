/* rootfs-verity: build and verify dm-verity hash trees, sign and check
 * root hashes. A thin dispatcher over libverity; every subcommand is one
 * cmd_X(argc, argv) in the table at the bottom. */
#include "common/macro.h"
#include "common/subcommand.h"
#include "common/util.h"
#include "verity/verity.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <uuid/uuid.h>

static const char *prog = "rootfs-verity";

/* One line on stderr, "rootfs-verity: ...", and the exit code to use. */
static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* ------------------------------------------------------------------ */
/* format, verify                                                       */

struct tree_opts {
	struct verity_params p;
	bool salt_set, uuid_set, hash_set, dbs_set, hbs_set, blocks_set;
	int npos;
	char **pos;
};

enum {
	OPT_SALT = 256, OPT_UUID, OPT_HASH, OPT_DBS, OPT_HBS, OPT_HASH_OFFSET,
	OPT_NO_SUPERBLOCK, OPT_DATA_BLOCKS,
};

static const struct option tree_options[] = {
	{ "salt", required_argument, NULL, OPT_SALT },
	{ "uuid", required_argument, NULL, OPT_UUID },
	{ "hash", required_argument, NULL, OPT_HASH },
	{ "data-block-size", required_argument, NULL, OPT_DBS },
	{ "hash-block-size", required_argument, NULL, OPT_HBS },
	{ "hash-offset", required_argument, NULL, OPT_HASH_OFFSET },
	{ "no-superblock", no_argument, NULL, OPT_NO_SUPERBLOCK },
	{ "data-blocks", required_argument, NULL, OPT_DATA_BLOCKS },
	{}
};

static int parse_block_size(const char *opt, const char *s, uint32_t *ret)
{
	uint64_t v;

	/* veritysetup's range: a power of two from 512 bytes to 512 KiB. */
	if (parse_size(s, &v) < 0 || v < 512 || v > 512 * 1024 || (v & (v - 1)))
		return fail("bad %s '%s': need a power of two from 512 to 524288", opt, s);
	*ret = (uint32_t)v;
	return 0;
}

/* Options shared by format and verify; positionals land in o->pos. */
static int parse_tree_opts(int argc, char **argv, struct tree_opts *o)
{
	int c;

	verity_params_default(&o->p, 0);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", tree_options, NULL)) != -1) {
		size_t n;
		uint64_t v;
		uuid_t u;

		switch (c) {
		case OPT_SALT:
			o->salt_set = true;
			if (strcmp(optarg, "-") == 0) {
				o->p.salt_size = 0;
				break;
			}
			switch (hex_decode(optarg, o->p.salt, sizeof(o->p.salt), &n)) {
			case 0:
				o->p.salt_size = (uint16_t)n;
				break;
			case -ENOBUFS:
				return fail("salt is longer than %d bytes", VERITY_MAX_SALT);
			default:
				return fail("salt '%s' is not hex (or '-' for none)", optarg);
			}
			break;
		case OPT_UUID:
			if (uuid_parse(optarg, u) < 0)
				return fail("bad UUID '%s'", optarg);
			memcpy(o->p.uuid, u, sizeof(o->p.uuid));
			o->uuid_set = true;
			break;
		case OPT_HASH:
			if (strcmp(optarg, "sha256") != 0 && strcmp(optarg, "sha512") != 0)
				return fail("unsupported hash '%s' (sha256 or sha512)", optarg);
			strcpy(o->p.hash_name, optarg);
			o->hash_set = true;
			break;
		case OPT_DBS:
			if (parse_block_size("--data-block-size", optarg, &o->p.data_block_size))
				return 1;
			o->dbs_set = true;
			break;
		case OPT_HBS:
			if (parse_block_size("--hash-block-size", optarg, &o->p.hash_block_size))
				return 1;
			o->hbs_set = true;
			break;
		case OPT_HASH_OFFSET:
			if (parse_size(optarg, &v) < 0)
				return fail("bad --hash-offset '%s'", optarg);
			o->p.hash_offset = v;
			break;
		case OPT_NO_SUPERBLOCK:
			o->p.superblock = false;
			break;
		case OPT_DATA_BLOCKS:
			if (parse_u64(optarg, &v) < 0 || v == 0)
				return fail("bad --data-blocks '%s'", optarg);
			o->p.data_blocks = v;
			o->blocks_set = true;
			break;
		case ':':
			return fail("option '%s' needs a value", argv[optind - 1]);
		default:
			return fail("unknown option '%s'", argv[optind - 1]);
		}
	}
	o->pos = argv + optind;
	o->npos = argc - optind;
	return 0;
}

/* Data blocks for a device of size bytes: all of it (last block padded)
 * unless --data-blocks says how many, which then must be there. */
static int data_blocks_for(struct tree_opts *o, const char *path, uint64_t size, bool *ret_padded)
{
	uint64_t dbs = o->p.data_block_size, need;

	if (!o->blocks_set) {
		if (size == 0)
			return fail("%s is empty", path);
		o->p.data_blocks = div_round_up(size, dbs);
	}
	if (u64_mul(o->p.data_blocks, dbs, &need) < 0 || need > INT64_MAX)
		return fail("%" PRIu64 " data blocks of %" PRIu64 " bytes overflow", o->p.data_blocks, dbs);
	if (size <= need - dbs)
		return fail("%s has %" PRIu64 " bytes, too small for %" PRIu64 " blocks of %" PRIu64,
		            path, size, o->p.data_blocks, dbs);
	*ret_padded = size < need;
	return 0;
}

static int check_params(const struct tree_opts *o)
{
	int r = verity_params_check(&o->p);

	if (r == -EOVERFLOW)
		return fail("the hash tree does not fit in 64-bit sizes");
	if (r < 0) {
		if (o->p.hash_offset % (o->p.superblock ? 512 : o->p.hash_block_size))
			return fail("--hash-offset %" PRIu64 " must be a multiple of %u", o->p.hash_offset,
			            o->p.superblock ? 512 : o->p.hash_block_size);
		return fail("bad verity parameters: %s", strerror(-r));
	}
	return 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	if (S_ISBLK(a->st_mode) && S_ISBLK(b->st_mode))
		return a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* The hash device must hold [0, end): regular files grow, block devices
 * must already be big enough. */
static int hash_device_fit(int fd, const struct stat *st, const char *path, uint64_t end)
{
	uint64_t size;
	int r;

	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		return fail("%s is not a regular file or block device", path);
	r = fd_get_size(fd, &size);
	if (r < 0)
		return fail("cannot get the size of %s: %s", path, strerror(-r));
	if (size >= end)
		return 0;
	if (S_ISBLK(st->st_mode))
		return fail("hash device too small: %s has %" PRIu64 " bytes, the tree needs %" PRIu64,
		            path, size, end);
	if (ftruncate(fd, (off_t)end) < 0)
		return fail("cannot extend %s to %" PRIu64 " bytes: %m", path, end);
	return 0;
}

static void print_params(const struct verity_params *p, uint64_t hash_blocks)
{
	char salt[2 * VERITY_MAX_SALT + 1], uuid[37];

	if (p->superblock) {
		uuid_unparse_lower(p->uuid, uuid);
		printf("UUID:            \t%s\n", uuid);
	}
	hex_encode(p->salt, p->salt_size, salt);
	printf("Hash type:       \t1\n"
	       "Data blocks:     \t%" PRIu64 "\n"
	       "Data block size: \t%" PRIu32 "\n"
	       "Hash blocks:     \t%" PRIu64 "\n"
	       "Hash block size: \t%" PRIu32 "\n"
	       "Hash algorithm:  \t%s\n"
	       "Salt:            \t%s\n"
	       "Hash offset:     \t%" PRIu64 "\n",
	       p->data_blocks, p->data_block_size, hash_blocks, p->hash_block_size, p->hash_name,
	       p->salt_size ? salt : "-", p->hash_offset);
}

static int cmd_format(int argc, char **argv)
{
	struct tree_opts o = {};
	_cleanup_close_ int data_fd = -1, hash_fd = -1;
	struct stat dst, hst;
	uint64_t data_size, area, end, tree_start;
	uint8_t root[VERITY_MAX_DIGEST];
	char hex[2 * VERITY_MAX_DIGEST + 1];
	size_t root_len;
	bool padded;
	int r;

	if (parse_tree_opts(argc, argv, &o))
		return 1;
	if (o.npos != 2)
		return fail("usage: format DATA HASH [options] (see '%s help')", prog);

	data_fd = open(o.pos[0], O_RDONLY | O_CLOEXEC);
	if (data_fd < 0 || fstat(data_fd, &dst) < 0)
		return fail("cannot open %s: %m", o.pos[0]);
	r = fd_get_size(data_fd, &data_size);
	if (r < 0)
		return fail("cannot get the size of %s: %s", o.pos[0], strerror(-r));
	if (data_blocks_for(&o, o.pos[0], data_size, &padded))
		return 1;
	if (!o.salt_set) {
		/* veritysetup's default: 32 random bytes. */
		o.p.salt_size = 32;
		if (RAND_bytes(o.p.salt, 32) != 1)
			return fail("cannot get random bytes for the salt");
	}
	if (o.p.superblock && !o.uuid_set) {
		uuid_t u;
		uuid_generate(u);
		memcpy(o.p.uuid, u, sizeof(o.p.uuid));
	}
	if (check_params(&o))
		return 1;
	r = verity_hash_area_size(&o.p, &area);
	if (r < 0 || u64_add(o.p.hash_offset, area, &end) < 0 || end > INT64_MAX)
		return fail("the hash tree does not fit in 64-bit sizes");

	hash_fd = open(o.pos[1], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (hash_fd < 0 || fstat(hash_fd, &hst) < 0)
		return fail("cannot open %s: %m", o.pos[1]);
	if (same_file(&dst, &hst) && o.p.hash_offset < o.p.data_blocks * o.p.data_block_size)
		return fail("--hash-offset %" PRIu64 " overlaps the data (%" PRIu64 " bytes); use at least %" PRIu64,
		            o.p.hash_offset, o.p.data_blocks * o.p.data_block_size,
		            o.p.data_blocks * o.p.data_block_size);
	if (hash_device_fit(hash_fd, &hst, o.pos[1], end))
		return 1;
	if (padded)
		fprintf(stderr, "%s: note: %s is %" PRIu64 " bytes, not a multiple of %" PRIu32
		        "; the last block is padded with zeros\n", prog, o.pos[0], data_size, o.p.data_block_size);

	r = verity_format_fd(&o.p, data_fd, hash_fd, root, &root_len);
	if (r == -EIO)
		return fail("%s ended early or could not be read", o.pos[0]);
	if (r < 0)
		return fail("building the hash tree failed: %s", strerror(-r));
	if (fsync(hash_fd) < 0)
		return fail("cannot sync %s: %m", o.pos[1]);

	hex_encode(root, root_len, hex);
	/* The tree starts after the superblock's hash block (as in the layout). */
	tree_start = o.p.hash_offset;
	if (o.p.superblock)
		(void)u64_align(o.p.hash_offset + VERITY_SUPERBLOCK_SIZE, o.p.hash_block_size, &tree_start);
	print_params(&o.p, (end - tree_start) / o.p.hash_block_size);
	printf("Root hash:       \t%s\n%s\n", hex, hex);
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	struct tree_opts o = {};
	_cleanup_close_ int data_fd = -1, hash_fd = -1;
	struct verity_corruption bad;
	uint64_t data_size, hash_size, area, end;
	uint8_t root[VERITY_MAX_DIGEST];
	size_t root_len;
	bool padded;
	int r, ds;

	if (parse_tree_opts(argc, argv, &o))
		return 1;
	if (o.npos != 3)
		return fail("usage: verify DATA HASH ROOTHASH [options] (see '%s help')", prog);
	if (o.uuid_set)
		return fail("--uuid is for format only");
	data_fd = open(o.pos[0], O_RDONLY | O_CLOEXEC);
	if (data_fd < 0)
		return fail("cannot open %s: %m", o.pos[0]);
	hash_fd = open(o.pos[1], O_RDONLY | O_CLOEXEC);
	if (hash_fd < 0)
		return fail("cannot open %s: %m", o.pos[1]);
	r = fd_get_size(data_fd, &data_size);
	if (r >= 0)
		r = fd_get_size(hash_fd, &hash_size);
	if (r < 0)
		return fail("cannot get device sizes: %s", strerror(-r));

	if (o.p.superblock) {
		if (o.salt_set || o.hash_set || o.dbs_set || o.hbs_set || o.blocks_set)
			return fail("--salt, --hash, --data-blocks and block sizes need --no-superblock "
			            "(the superblock has them)");
		r = verity_superblock_read(hash_fd, o.p.hash_offset, &o.p);
		if (r == -EOPNOTSUPP)
			return fail("the superblock in %s uses an unsupported hash type or algorithm", o.pos[1]);
		if (r < 0)
			return fail("no valid verity superblock in %s at offset %" PRIu64, o.pos[1], o.p.hash_offset);
		o.blocks_set = true;
	}
	if (data_blocks_for(&o, o.pos[0], data_size, &padded) || check_params(&o))
		return 1;
	ds = verity_digest_size(&o.p);
	r = hex_decode(o.pos[2], root, sizeof(root), &root_len);
	if (r < 0 || (int)root_len != ds)
		return fail("root hash must be %d hex digits for %s", 2 * ds, o.p.hash_name);
	r = verity_hash_area_size(&o.p, &area);
	if (r < 0 || u64_add(o.p.hash_offset, area, &end) < 0)
		return fail("the hash tree does not fit in 64-bit sizes");
	if (hash_size < end)
		return fail("hash device too small: %s has %" PRIu64 " bytes, the tree needs %" PRIu64,
		            o.pos[1], hash_size, end);

	r = verity_verify(&o.p, data_fd, hash_fd, root, root_len, &bad);
	if (r == -EBADMSG) {
		if (bad.area == VERITY_AREA_DATA)
			return fail("data block %" PRIu64 " is corrupted", bad.block);
		return fail("hash block %" PRIu64 " (level %" PRIu32 ") is corrupted", bad.block, bad.level);
	}
	if (r < 0)
		return fail("verification failed: %s", strerror(-r));
	printf("%s: %" PRIu64 " data blocks and the hash tree match the root hash\n", o.pos[0],
	       o.p.data_blocks);
	return 0;
}

/* ------------------------------------------------------------------ */
/* sign, check-sig, sign-file, check-file                               */

/* Files signed with sign-file are manifests and the like, never big. */
#define SIGNED_FILE_MAX (64u << 20)

/* The root hash as the kernel signs it: lowercase hex of a sha256 or
 * sha512 digest (either case accepted on the command line). */
static int parse_roothash(const char *s, char ret[2 * VERITY_MAX_DIGEST + 1])
{
	uint8_t root[VERITY_MAX_DIGEST];
	size_t n;

	if (hex_decode(s, root, sizeof(root), &n) < 0 || (n != 32 && n != 64))
		return fail("root hash '%s' is not 64 or 128 hex digits", s);
	hex_encode(root, n, ret);
	return 0;
}

enum { OPT_KEY = 300, OPT_CERT, OPT_NOCERTS, OPT_KEYRING, OPT_CRL, OPT_TIME };

static const struct option sig_options[] = {
	{ "key", required_argument, NULL, OPT_KEY },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "output", required_argument, NULL, 'o' },
	{ "nocerts", no_argument, NULL, OPT_NOCERTS },
	{ "keyring", required_argument, NULL, OPT_KEYRING },
	{ "crl", required_argument, NULL, OPT_CRL },
	{ "time", required_argument, NULL, OPT_TIME },
	{}
};

/* What one sign or check command does: the root hash (PKCS#7, kernel
 * form) or a file's bytes (CMS with signed attributes, manifest form). */
struct sig_cmd {
	bool file;
	const char *key, *cert, *output, *keyring, *crl;
	bool nocerts;
	uint64_t time;
	uint8_t *data;  /* what is signed: the lowercase hex or the file */
	size_t len;
	char hex[2 * VERITY_MAX_DIGEST + 1];
};

static int parse_sig_opts(int argc, char **argv, struct sig_cmd *o, bool sign)
{
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:", sig_options, NULL)) != -1) {
		switch (c) {
		case OPT_KEY: o->key = optarg; break;
		case OPT_CERT: o->cert = optarg; break;
		case 'o': o->output = optarg; break;
		case OPT_NOCERTS: o->nocerts = true; break;
		case OPT_KEYRING: o->keyring = optarg; break;
		case OPT_CRL: o->crl = optarg; break;
		case OPT_TIME:
			if (parse_u64(optarg, &o->time) < 0 || o->time == 0 || o->time > INT64_MAX)
				return fail("bad --time '%s': seconds since the epoch", optarg);
			break;
		case ':':
			return fail("option '%s' needs a value", argv[optind - 1]);
		default:
			return fail("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (sign ? (argc - optind != 1 || !o->key || !o->cert || !o->output || o->keyring || o->crl ||
	            o->time || (o->file && o->nocerts))
	         : (argc - optind != 2 || !o->keyring || o->key || o->cert || o->output || o->nocerts))
		return fail("usage: %s %s (see '%s help')", argv[0],
		            sign ? (o->file ? "FILE --key KEY --cert CERT -o SIG"
		                            : "ROOTHASH --key KEY --cert CERT -o FILE [--nocerts]")
		                 : (o->file ? "FILE SIG --keyring PATH [--crl PATH] [--time SECONDS]"
		                            : "ROOTHASH FILE --keyring PATH [--crl PATH] [--time SECONDS]"),
		            prog);
	if (!o->file) {
		if (parse_roothash(argv[optind], o->hex))
			return 1;
		o->data = (uint8_t *)strdup(o->hex);
		if (!o->data)
			return fail("out of memory");
		o->len = strlen(o->hex);
		return 0;
	}
	r = read_file_bounded(argv[optind], SIGNED_FILE_MAX, &o->data, &o->len);
	if (r < 0)
		return fail("cannot read %s: %s", argv[optind],
		            r == -EFBIG ? "larger than 64 MiB" : strerror(-r));
	return 0;
}

static const char *signer_load_error(int r, bool uri)
{
	switch (r) {
	case -EINVAL: return "the key does not belong to the certificate";
	case -EBADMSG: return "not a PEM key and certificate (an encrypted key needs a URI)";
	case -ENOKEY: return uri ? "no such key at the URI (token, object or PIN wrong?)"
	                         : "no certificate in the certificate file";
	case -EPROTONOSUPPORT: return "OpenSSL has no loader for this URI scheme";
	case -ENODEV: return "the pkcs11 engine cannot load its PKCS#11 module";
	default: return verity_strerror(r);
	}
}

/* A key URI may carry the PIN (pin-value=): never print it. */
static const char *key_name(const char *key)
{
	return strstr(key, "pin-value=") ? "(URI with PIN)" : key;
}

static int run_sign(int argc, char **argv, bool file)
{
	struct sig_cmd o = { .file = file };
	_cleanup_free_ uint8_t *data = NULL, *der = NULL;
	struct verity_signer *s = NULL;
	size_t n;
	int r;

	r = parse_sig_opts(argc, argv, &o, true);
	data = o.data;
	if (r)
		return 1;
	r = verity_signer_load(o.key, o.cert, &s);
	if (r < 0) {
		const char *colon = strchr(o.key, ':'), *slash = strchr(o.key, '/');

		return fail("cannot use key %s with certificate %s: %s", key_name(o.key), o.cert,
		            signer_load_error(r, colon && (!slash || colon < slash)));
	}
	r = file ? verity_cms_sign(s, o.data, o.len, &der, &n)
	         : verity_roothash_sign(s, o.hex, !o.nocerts, &der, &n);
	verity_signer_free(s);
	if (r < 0)
		return fail("signing failed: %s", verity_strerror(r));
	r = write_file_atomic(o.output, der, n, 0644);
	if (r < 0)
		return fail("cannot write %s: %s", o.output, strerror(-r));
	printf("%s: %s signature, %zu bytes%s\n", o.output, file ? "CMS" : "root hash", n,
	       o.nocerts ? ", no certificates" : "");
	return 0;
}

static const char *keyring_load_error(int r)
{
	switch (r) {
	case -ENOKEY: return "no certificate in it";
	case -ENODATA: return "no CRL in the --crl path";
	case -EBADMSG: return "damaged PEM data";
	default: return verity_strerror(r);
	}
}

static int run_check(int argc, char **argv, bool file)
{
	struct sig_cmd o = { .file = file };
	_cleanup_free_ uint8_t *data = NULL, *der = NULL;
	_cleanup_free_ char *subject = NULL;
	struct verity_keyring *kr = NULL;
	const char *sig;
	size_t n;
	int r;

	r = parse_sig_opts(argc, argv, &o, false);
	data = o.data;
	if (r)
		return 1;
	sig = argv[optind + 1];
	r = read_file_bounded(sig, UPDATE_MAX_SIG, &der, &n);
	if (r == -EFBIG)
		return fail("%s is larger than %d bytes: not a signature", sig, UPDATE_MAX_SIG);
	if (r < 0)
		return fail("cannot read %s: %s", sig, strerror(-r));
	r = verity_keyring_load(o.keyring, o.crl, &kr);
	if (r < 0)
		return fail("cannot load keyring %s%s%s: %s", o.keyring, o.crl ? " with CRLs " : "",
		            o.crl ? o.crl : "", keyring_load_error(r));
	if (o.time)
		verity_keyring_set_time(kr, (time_t)o.time);
	/* For a root hash this is verity_roothash_verify() (which adds only
	 * the hex check done above); this form also names the signer. */
	r = verity_cms_verify(kr, o.data, o.len, der, n, &subject);
	verity_keyring_free(kr);
	if (r == -EBADMSG)
		return fail("bad signature: %s is damaged or does not sign %s%s", sig,
		            file ? "" : "root hash ", file ? argv[optind] : o.hex);
	if (r < 0)
		return fail("signature rejected: %s", verity_strerror(r));
	printf("signature OK: %s\n", subject);
	return 0;
}

static int cmd_sign(int argc, char **argv) { return run_sign(argc, argv, false); }
static int cmd_check_sig(int argc, char **argv) { return run_check(argc, argv, false); }
static int cmd_sign_file(int argc, char **argv) { return run_sign(argc, argv, true); }
static int cmd_check_file(int argc, char **argv) { return run_check(argc, argv, true); }

static int cmd_help(int argc, char **argv);

static const struct subcommand subcommands[] = {
	{ "format", cmd_format,
	  "DATA HASH [--salt HEX|-] [--uuid UUID] [--hash sha256|sha512] [--data-block-size N]\n"
	  "         [--hash-block-size N] [--hash-offset BYTES] [--no-superblock] [--data-blocks N]\n"
	  "         builds the tree; prints the parameters, the root hash alone on the last line" },
	{ "verify", cmd_verify,
	  "DATA HASH ROOTHASH [--hash-offset BYTES] [--no-superblock --salt HEX|- --data-blocks N\n"
	  "         --hash H --data-block-size N --hash-block-size N]\n"
	  "         checks every data and hash block, like veritysetup verify" },
	{ "sign", cmd_sign,
	  "ROOTHASH --key KEY|URI --cert CERT -o FILE [--nocerts]\n"
	  "         writes the kernel's PKCS#7 root-hash signature (.roothash.p7s)" },
	{ "check-sig", cmd_check_sig,
	  "ROOTHASH FILE --keyring PATH [--crl PATH] [--time SECONDS]\n"
	  "         checks a root-hash signature against CA certificates (file or directory)" },
	{ "sign-file", cmd_sign_file,
	  "FILE --key KEY|URI --cert CERT -o SIG\n"
	  "         writes a detached CMS signature (SHA-256, signed attributes, chain), as for manifests" },
	{ "check-file", cmd_check_file,
	  "FILE SIG --keyring PATH [--crl PATH] [--time SECONDS]\n"
	  "         checks a detached CMS signature over FILE" },
	{ "help", cmd_help, "" },
};

static int cmd_help(int argc, char **argv)
{
	subcommand_help(prog, subcommands, ARRAY_SIZE(subcommands));
	return 0;
}

int main(int argc, char **argv)
{
	return subcommand_dispatch(prog, subcommands, ARRAY_SIZE(subcommands), argc, argv);
}
