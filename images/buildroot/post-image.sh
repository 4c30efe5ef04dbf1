#!/usr/bin/env bash
# Buildroot post-image script: turns the root filesystem image Buildroot
# made into a signed rootfs-update image, $BINARIES_DIR/update.rfsu.
#
# In the defconfig:
#   BR2_ROOTFS_POST_IMAGE_SCRIPT="path/to/images/buildroot/post-image.sh"
#   BR2_ROOTFS_POST_SCRIPT_ARGS="--key /path/signing.key --cert /path/signing.pem --compatible acme-gw-1 --version 42"
# Buildroot calls it as `post-image.sh $BINARIES_DIR ARGS...` with
# BINARIES_DIR, TARGET_DIR, HOST_DIR and BR2_CONFIG in the environment.
#
# Options (after $BINARIES_DIR):
#   --key KEY            PEM file or PKCS#11/provider URI (see rootfs-image help)
#   --cert CERT          signing certificate (+ intermediates), PEM
#   --compatible STR     product string the devices match exactly
#   --version N          monotonic version; default $ROOTFS_VERSION
#   --version-string S   default: VERSION from $TARGET_DIR/etc/os-release, else N
#   --rootfs FILE        default: the first of rootfs.squashfs, rootfs.erofs,
#                        rootfs.ext4, rootfs.ext2 in $BINARIES_DIR
#   --compress zstd|none default: zstd for ext4/ext2 images, none otherwise
#   --output FILE        default: $BINARIES_DIR/update.rfsu
set -eu
me=post-image.sh
die() { echo "$me: $*" >&2; exit 1; }

bin=${1:-${BINARIES_DIR:-}}
[ -n "$bin" ] || die "no BINARIES_DIR (Buildroot passes it as the first argument)"
[ $# -gt 0 ] && shift
[ -d "$bin" ] || die "BINARIES_DIR '$bin' is not a directory"

key= cert= compatible= version=${ROOTFS_VERSION:-} vstring= rootfs= compress= output=$bin/update.rfsu
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "option $1 needs a value"
	case $1 in
	--key) key=$2 ;;
	--cert) cert=$2 ;;
	--compatible) compatible=$2 ;;
	--version) version=$2 ;;
	--version-string) vstring=$2 ;;
	--rootfs) rootfs=$2 ;;
	--compress) compress=$2 ;;
	--output) output=$2 ;;
	*) die "unknown option '$1'" ;;
	esac
	shift 2
done
[ -n "$key" ] && [ -n "$cert" ] && [ -n "$compatible" ] || die "--key, --cert and --compatible are required"
[ -n "$version" ] || die "no version: pass --version N or set ROOTFS_VERSION"

if [ -z "$rootfs" ]; then
	for f in rootfs.squashfs rootfs.erofs rootfs.ext4 rootfs.ext2; do
		[ -f "$bin/$f" ] && { rootfs=$bin/$f; break; }
	done
	[ -n "$rootfs" ] || die "no rootfs.squashfs, rootfs.erofs or rootfs.ext4 in $bin (enable one in 'Filesystem images')"
fi
if [ -z "$compress" ]; then
	case $rootfs in *.ext[234]) compress=zstd ;; *) compress=none ;; esac
fi
if [ -z "$vstring" ] && [ -n "${TARGET_DIR:-}" ] && [ -f "$TARGET_DIR/etc/os-release" ]; then
	vstring=$(sed -n 's/^VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$TARGET_DIR/etc/os-release" | head -n 1)
fi
[ -n "$vstring" ] || vstring=$version

# Prefer the host tool Buildroot built, then PATH.
tool=rootfs-image
[ -n "${HOST_DIR:-}" ] && [ -x "$HOST_DIR/bin/rootfs-image" ] && tool=$HOST_DIR/bin/rootfs-image
command -v "$tool" >/dev/null || die "rootfs-image not found (build host-rootfs-update or put it on PATH)"

# Buildroot's rootfs.ext2 may hold ext2, ext3 or ext4; the device's ext4
# driver mounts all three, so the manifest says ext4.
fstype=auto
case $rootfs in *.ext[234]) fstype=ext4 ;; esac
exec "$tool" create --rootfs "$rootfs" --key "$key" --cert "$cert" --compatible "$compatible" \
	--version "$version" --version-string "$vstring" --fstype "$fstype" --compress "$compress" -o "$output"
