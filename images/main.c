/* rootfs-image: signed update images for image builders (Yocto, Buildroot)
 * and A/B disk images for first flashing and tests. */
#include "images/images.h"
#include "common/macro.h"
#include "common/subcommand.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "rootfs-image";

/* Errors where strerror adds something to the static message. */
static bool is_io(int r)
{
	switch (-r) {
	case EIO: case ENOENT: case EACCES: case EISDIR: case ENOTDIR: case ENOSPC: case EROFS:
	case ENOMEM: case EEXIST: case EPIPE: case EDQUOT: case EFBIG: case ENXIO: case ENOTBLK:
		return true;
	default:
		return false;
	}
}

/* One line on stderr: "rootfs-image: [WHAT: ]MSG[: strerror]". */
static int die(const char *what, const char *msg, int r)
{
	fprintf(stderr, "%s: %s%s%s%s%s\n", prog, what ? what : "", what ? ": " : "", msg,
		is_io(r) ? ": " : "", is_io(r) ? strerror(-r) : "");
	return 1;
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "%s: %s (see '%s help')\n", prog, msg, prog);
	return 2;
}

static void keyring_freep(struct verity_keyring **k) { verity_keyring_free(*k); }

static int load_keyring(const char *path, const char *crl, struct verity_keyring **ret)
{
	int r = verity_keyring_load(path, crl, ret);

	if (r < 0)
		die(crl ? "cannot load the keyring or CRL" : "cannot load the keyring", verity_strerror(r), 0);
	return r;
}

/* ------------------------------------------------------------ create */

static int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rootfs", required_argument, NULL, 'r' }, { "key", required_argument, NULL, 'k' },
		{ "cert", required_argument, NULL, 'c' }, { "compatible", required_argument, NULL, 'C' },
		{ "version", required_argument, NULL, 'v' }, { "version-string", required_argument, NULL, 'V' },
		{ "fstype", required_argument, NULL, 't' }, { "compress", required_argument, NULL, 'z' },
		{ "salt", required_argument, NULL, 's' }, { "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct image_create_opts o = { 0 };
	struct image_create_result res;
	const char *err = NULL;
	bool have_version = false;
	char hex[2 * VERITY_MAX_DIGEST + 1];
	int c, r;

	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'r': o.rootfs = optarg; break;
		case 'k': o.key = optarg; break;
		case 'c': o.cert = optarg; break;
		case 'C': o.compatible = optarg; break;
		case 'v':
			if (parse_u64(optarg, &o.version) < 0)
				return usage_error("--version must be a decimal number (no sign, no leading zeros)");
			have_version = true;
			break;
		case 'V': o.version_string = optarg; break;
		case 't': o.fstype = optarg; break;
		case 'z':
			if (strcmp(optarg, "zstd") == 0)
				o.zstd = true;
			else if (strcmp(optarg, "none") != 0)
				return usage_error("--compress must be zstd or none");
			break;
		case 's': o.salt_hex = optarg; break;
		case 'o': o.output = optarg; break;
		default: return 2;
		}
	}
	if (optind != argc)
		return usage_error("create takes no positional arguments");
	if (!o.rootfs || !o.key || !o.cert || !o.compatible || !have_version || !o.output)
		return usage_error("create needs --rootfs, --key, --cert, --compatible, --version and -o");
	r = image_create(&o, &res, &err);
	if (r < 0 && (r == -EINVAL || r == -EMEDIUMTYPE || is_io(r)))
		return die(NULL, err, r);
	if (r < 0) /* key, certificate or signing trouble: say which */
		return die(err, verity_strerror(r), 0);
	if (res.padding)
		printf("%s: padded %s with %" PRIu64 " zero bytes to a multiple of 4096\n", prog, o.rootfs,
		       res.padding);
	hex_encode(res.m.root_hash, res.m.root_hash_size, hex);
	printf("%s: wrote %s (%s, %" PRIu64 " bytes, version %" PRIu64 ", root hash %s)\n", prog, o.output,
	       res.fstype, res.image_size, res.m.version, hex);
	return 0;
}

/* -------------------------------------------------------------- info */


static void print_manifest(const struct signed_manifest *sm, bool json, const char *sig_state, const char *signer)
{
	const struct manifest *m = &sm->m;
	char sha[65], salt[2 * VERITY_MAX_SALT + 1], root[2 * VERITY_MAX_DIGEST + 1];

	hex_encode(m->payload_sha256, 32, sha);
	hex_encode(m->verity.salt, m->verity.salt_size, salt);
	hex_encode(m->root_hash, m->root_hash_size, root);
	if (!json) {
		/* the canonical manifest lines, as signed */
		_cleanup_free_ char *text = NULL;
		size_t len;
		if (manifest_format(m, &text, &len) == 0)
			fwrite(text, 1, len, stdout);
		printf("signature: %s", sig_state);
		if (signer)
			printf(" (signer %s)", signer);
		putchar('\n');
		return;
	}
	printf("{\"format\":%" PRIu32 ",\"compatible\":", m->format);
	json_write_string(stdout, m->compatible);
	printf(",\"version\":%" PRIu64 ",\"version_string\":", m->version);
	json_write_string(stdout, m->version_string);
	printf(",\"build_time\":%" PRIu64 ",\"fstype\":\"%s\",\"payload_size\":%" PRIu64
	       ",\"payload_sha256\":\"%s\",\"compression\":\"%s\",\"stored_size\":%" PRIu64
	       ",\"verity_hash\":\"%s\",\"verity_data_block_size\":%" PRIu32
	       ",\"verity_hash_block_size\":%" PRIu32 ",\"verity_data_blocks\":%" PRIu64
	       ",\"verity_salt\":\"%s\",\"verity_root_hash\":\"%s\",\"verity_tree_size\":%" PRIu64
	       ",\"signature\":\"%s\",\"signer\":",
	       m->build_time, m->fstype, m->payload_size, sha,
	       m->compression == MANIFEST_COMP_ZSTD ? "zstd" : "none", m->stored_size, m->verity.hash_name,
	       m->verity.data_block_size, m->verity.hash_block_size, m->verity.data_blocks, salt, root,
	       m->tree_size, sig_state);
	if (signer)
		json_write_string(stdout, signer);
	else
		printf("null");
	printf("}\n");
}

/* Shared option parsing of info and verify: UPDATE [--keyring P] [--crl P] [--json] */
struct check_args {
	const char *path, *keyring, *crl;
	bool json;
};

static int parse_check_args(int argc, char **argv, struct check_args *a)
{
	static const struct option opts[] = {
		{ "keyring", required_argument, NULL, 'K' }, { "crl", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' }, { NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'K': a->keyring = optarg; break;
		case 'R': a->crl = optarg; break;
		case 'j': a->json = true; break;
		default: return -EINVAL;
		}
	}
	if (optind + 1 != argc) {
		usage_error("expected exactly one update image");
		return -EINVAL;
	}
	if (a->crl && !a->keyring) {
		usage_error("--crl needs --keyring");
		return -EINVAL;
	}
	a->path = argv[optind];
	return 0;
}

static int open_image(const char *path)
{
	int fd;

	if (strcmp(path, "-") == 0)
		return dup(STDIN_FILENO);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path, "cannot open", -errno);
	return fd;
}

static int cmd_info(int argc, char **argv)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest sm = { 0 };
	_cleanup_(keyring_freep) struct verity_keyring *kr = NULL;
	_cleanup_free_ char *signer = NULL;
	_cleanup_close_ int fd = -1;
	struct check_args a = { 0 };
	struct update_header h;
	const char *err = NULL;
	int r;

	if (parse_check_args(argc, argv, &a) < 0)
		return 2;
	if (a.keyring && load_keyring(a.keyring, a.crl, &kr) < 0)
		return 1;
	fd = open_image(a.path);
	if (fd < 0)
		return 1;
	/* With a keyring the signatures are checked before the manifest is
	 * parsed; the second check only fetches the signer's name. */
	r = update_read_head(fd, kr, &h, &sm, &err);
	if (r == 0 && kr)
		r = signed_manifest_verify_signer(kr, &sm, &signer, &err);
	if (r < 0)
		return die(a.path, err, r);
	print_manifest(&sm, a.json, kr ? "valid" : "not checked (no --keyring)", signer);
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	_cleanup_(signed_manifest_clear) struct signed_manifest sm = { 0 };
	_cleanup_(keyring_freep) struct verity_keyring *kr = NULL;
	_cleanup_close_ int fd = -1;
	struct check_args a = { 0 };
	const char *err = NULL;
	int r;

	if (parse_check_args(argc, argv, &a) < 0)
		return 2;
	if (!a.keyring)
		return usage_error("verify needs --keyring");
	if (load_keyring(a.keyring, a.crl, &kr) < 0)
		return 1;
	fd = open_image(a.path);
	if (fd < 0)
		return 1;
	r = image_verify_fd(fd, kr, &sm, &err);
	if (r < 0)
		return die(a.path, err, r);
	if (a.json)
		print_manifest(&sm, true, "valid", NULL);
	else
		printf("%s: %s: valid (%s version %" PRIu64 ", payload and root hash match)\n", prog, a.path,
		       sm.m.compatible, sm.m.version);
	return 0;
}

/* -------------------------------------------------------------- disk */

/* grub.cfg: --grub-cfg, $ROOTFS_SHARE, the source tree next to the tool
 * (build/bin/ -> bootctl/grub/), the installed share directory. */
static char *find_grub_cfg(void)
{
	char exe[PATH_MAX], *cand[4] = { NULL };
	const char *share = getenv("ROOTFS_SHARE");
	char *found = NULL;
	ssize_t n;

	if (share && asprintf(&cand[0], "%s/grub.cfg", share) < 0)
		cand[0] = NULL;
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = 0;
		char *dir = dirname(exe);
		if (asprintf(&cand[1], "%s/../../bootctl/grub/grub.cfg", dir) < 0)
			cand[1] = NULL;
		if (asprintf(&cand[2], "%s/../share/rootfs-update/grub.cfg", dir) < 0)
			cand[2] = NULL;
	}
	for (size_t i = 0; i < 3; i++) {
		if (!found && cand[i] && access(cand[i], R_OK) == 0)
			found = cand[i];
		else
			free(cand[i]);
	}
	return found;
}

static int cmd_disk(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' }, { "slot-a", required_argument, NULL, 'a' },
		{ "slot-b", required_argument, NULL, 'b' }, { "slot-size", required_argument, NULL, 'S' },
		{ "data-size", required_argument, NULL, 'D' }, { "esp-size", required_argument, NULL, 'E' },
		{ "labels", required_argument, NULL, 'L' }, { "bootloader", required_argument, NULL, 'B' },
		{ "grub-cfg", required_argument, NULL, 'G' }, { "keyring", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	struct image_disk_opts o = {
		.slot_size = 256ULL << 20, .data_size = 64ULL << 20, .esp_size = 32ULL << 20,
		.labels = { "esp", "rootfs_a", "rootfs_b", "data" }, .bootloader = IMAGE_BOOT_GRUB,
	};
	_cleanup_(keyring_freep) struct verity_keyring *kr = NULL;
	_cleanup_free_ char *labels = NULL, *grub_cfg = NULL;
	const char *keyring = NULL, *err = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'o': o.output = optarg; break;
		case 'a': o.slot_a = optarg; break;
		case 'b': o.slot_b = optarg; break;
		case 'S':
			if (parse_size(optarg, &o.slot_size) < 0)
				return usage_error("bad --slot-size (e.g. 256M)");
			break;
		case 'D':
			if (parse_size(optarg, &o.data_size) < 0)
				return usage_error("bad --data-size (e.g. 64M)");
			break;
		case 'E':
			if (parse_size(optarg, &o.esp_size) < 0)
				return usage_error("bad --esp-size (e.g. 32M)");
			break;
		case 'L': {
			char *save = NULL, *tok;
			size_t i = 0;
			free(labels);
			labels = strdup(optarg);
			if (!labels)
				return die(NULL, "out of memory", 0);
			for (tok = strtok_r(labels, ",", &save); tok && i < 4; tok = strtok_r(NULL, ",", &save))
				o.labels[i++] = tok;
			if (i != 4 || tok)
				return usage_error("--labels needs four comma-separated names");
			break;
		}
		case 'B':
			if (strcmp(optarg, "grub") == 0)
				o.bootloader = IMAGE_BOOT_GRUB;
			else if (strcmp(optarg, "none") == 0)
				o.bootloader = IMAGE_BOOT_NONE;
			else
				return usage_error("--bootloader must be grub or none");
			break;
		case 'G': o.grub_cfg = optarg; break;
		case 'K': keyring = optarg; break;
		default: return 2;
		}
	}
	if (optind != argc)
		return usage_error("disk takes no positional arguments");
	if (!o.output || !o.slot_a)
		return usage_error("disk needs -o and --slot-a");
	if (o.bootloader == IMAGE_BOOT_GRUB && !o.grub_cfg) {
		grub_cfg = find_grub_cfg();
		if (!grub_cfg)
			return die(NULL, "no grub.cfg found (set --grub-cfg or ROOTFS_SHARE)", 0);
		o.grub_cfg = grub_cfg;
	}
	if (keyring && load_keyring(keyring, NULL, &kr) < 0)
		return 1;
	o.kr = kr;
	r = image_disk(&o, &err);
	if (r < 0)
		return die(NULL, err, r);
	printf("%s: wrote %s\n", prog, o.output);
	return 0;
}

/* ----------------------------------------------------------- channel */

static int cmd_channel(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "update", required_argument, NULL, 'u' }, { "url", required_argument, NULL, 'U' },
		{ "expires", required_argument, NULL, 'e' }, { "serial", required_argument, NULL, 'n' },
		{ "name", required_argument, NULL, 'N' }, { "key", required_argument, NULL, 'k' },
		{ "cert", required_argument, NULL, 'c' }, { "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct image_channel_opts o = { 0 };
	struct channel ch;
	const char *expires = NULL, *err = NULL;
	bool have_serial = false;
	char when[32];
	uint64_t d;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'u': o.update = optarg; break;
		case 'U': o.url = optarg; break;
		case 'e': expires = optarg; break;
		case 'n':
			if (parse_u64(optarg, &o.serial) < 0)
				return usage_error("--serial must be a decimal number");
			have_serial = true;
			break;
		case 'N': o.name = optarg; break;
		case 'k': o.key = optarg; break;
		case 'c': o.cert = optarg; break;
		case 'o': o.output = optarg; break;
		default: return 2;
		}
	}
	if (optind != argc)
		return usage_error("channel takes no positional arguments");
	if (!o.update || !o.url || !expires || !have_serial || !o.key || !o.cert || !o.output)
		return usage_error("channel needs --update, --url, --expires, --serial, --key, --cert and -o");
	/* an absolute time, or a lifetime from now */
	if (channel_time_parse(expires, &o.expires) < 0) {
		if (image_parse_duration(expires, &d) < 0 || u64_add((uint64_t)time(NULL), d, &o.expires) < 0)
			return usage_error("--expires must be a duration (14d, 12h, 30m, 90s, 2w) or YYYY-MM-DDTHH:MM:SSZ");
	}
	r = image_channel(&o, &ch, &err);
	if (r < 0 && (r == -EINVAL || r == -EBADMSG || r == -EPROTO || is_io(r)))
		return die(o.update, err, r);
	if (r < 0)
		return die(err, verity_strerror(r), 0);
	if (channel_time_format(ch.expires, when) < 0)
		strcpy(when, "?");
	printf("%s: wrote %s (channel %s, serial %" PRIu64 ", version %" PRIu64 ", expires %s)\n", prog, o.output,
	       ch.name, ch.serial, ch.version, when);
	return 0;
}

/* -------------------------------------------------------------- main */

static int cmd_help(int argc, char **argv);

static const struct subcommand commands[] = {
	{ "create", cmd_create,
	  "--rootfs FS.img --key KEY --cert CERT --compatible STR --version N\n"
	  "         [--version-string S] [--fstype auto|ext4|squashfs|erofs] [--compress zstd|none]\n"
	  "         [--salt HEX] -o UPDATE\n"
	  "    Build a signed update image. KEY is a PEM file or a URI OpenSSL can load\n"
	  "    (a provider's scheme, or pkcs11:...;pin-value=... through libp11); CERT is\n"
	  "    PEM, signing certificate first, then intermediates. The filesystem is padded\n"
	  "    with zeros to a multiple of 4096. SOURCE_DATE_EPOCH sets build_time." },
	{ "info", cmd_info,
	  "UPDATE [--keyring PATH] [--crl PATH] [--json]\n"
	  "    Print the manifest; with a keyring, check both signatures (exit 1 if not)." },
	{ "verify", cmd_verify,
	  "UPDATE --keyring PATH [--crl PATH] [--json]\n"
	  "    Check the signatures, then the whole payload: sha256, root hash, exact size." },
	{ "disk", cmd_disk,
	  "-o DISK.img --slot-a UPDATE [--slot-b UPDATE] [--slot-size SIZE] [--data-size SIZE]\n"
	  "         [--esp-size SIZE] [--labels esp,rootfs_a,rootfs_b,data] [--bootloader grub|none]\n"
	  "         [--grub-cfg FILE] [--keyring PATH]\n"
	  "    Build a GPT A/B disk image: ESP (GRUB, grub.cfg, grubenv booting A), slot A\n"
	  "    (and B) written as the installer writes them, an ext4 data partition." },
	{ "channel", cmd_channel,
	  "--update UPDATE --url URL --expires 14d|YYYY-MM-DDTHH:MM:SSZ --serial N\n"
	  "         --key KEY --cert CERT [--name NAME] -o CHANNEL\n"
	  "    Write signed channel metadata announcing UPDATE (its compatible, version, size\n"
	  "    and sha256) at URL, relative to the channel file's URL or absolute. The serial\n"
	  "    must grow with every new file; devices refuse expired metadata. NAME defaults\n"
	  "    to CHANNEL's file name without .channel." },
	{ "help", cmd_help, "\n    This text." },
};

static int cmd_help(int argc, char **argv)
{
	subcommand_help(prog, commands, ARRAY_SIZE(commands));
	return 0;
}

int main(int argc, char **argv)
{
	return subcommand_dispatch(prog, commands, ARRAY_SIZE(commands), argc, argv);
}
