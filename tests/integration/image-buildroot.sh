#!/usr/bin/env bash
# images/buildroot/post-image.sh, called the way Buildroot calls it:
# BINARIES_DIR as the first argument and in the environment with
# TARGET_DIR, HOST_DIR and BR2_CONFIG; BR2_ROOTFS_POST_SCRIPT_ARGS after it.
. "$(dirname "$0")/../lib/common.sh"
. "$TOP/tests/lib/testkeys.sh"
testkeys "$TOP/$B/testkeys" || { not_ok "testkeys"; finish; }
script=$TOP/images/buildroot/post-image.sh

# A Buildroot output tree: target/, images/rootfs.squashfs, host/bin.
out=$T/output
mkdir -p "$out/target/etc" "$out/images" "$out/host/bin"
printf 'NAME=Buildroot\nVERSION="2026.02 acme"\nVERSION_ID=2026.02\n' >"$out/target/etc/os-release"
echo 'BR2_x86_64=y' >"$out/.config"
mksquashfs "$out/target" "$out/images/rootfs.squashfs" -quiet -noappend >/dev/null
ln -s "$BIN/rootfs-image" "$out/host/bin/rootfs-image"
br() { # what Buildroot's support/scripts does for BR2_ROOTFS_POST_IMAGE_SCRIPT
	(cd "$out/.." && env BINARIES_DIR="$out/images" TARGET_DIR="$out/target" HOST_DIR="$out/host" \
		BASE_DIR="$out" BR2_CONFIG="$out/.config" PATH=/usr/bin:/bin "$script" "$out/images" "$@")
}
args=(--key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem" --compatible acme-gw-1 --version 12)

check "post-image.sh runs" br "${args[@]}"
check "it made images/update.rfsu, and it verifies" rootfs-image verify "$out/images/update.rfsu" --keyring "$TK/keyring"
info=$(rootfs-image info "$out/images/update.rfsu")
check_eq "version from the arguments" "$(sed -n 's/^version=//p' <<<"$info")" 12
check_eq "version string from target/etc/os-release" "$(sed -n 's/^version_string=//p' <<<"$info")" "2026.02 acme"
check_eq "squashfs detected, not recompressed" "$(sed -n 's/^fstype=//p; s/^compression=//p' <<<"$info" | tr '\n' ' ')" "squashfs none "
check_eq "payload is rootfs.squashfs" "$(sed -n 's/^payload_sha256=//p' <<<"$info")" \
	"$(cat "$out/images/rootfs.squashfs" /dev/zero | head -c "$(sed -n 's/^payload_size=//p' <<<"$info")" | sha256sum | cut -d' ' -f1)"

# An ext4 rootfs (BR2_TARGET_ROOTFS_EXT2_4) is compressed by default.
rm "$out/images/rootfs.squashfs"
truncate -s 4M "$out/images/rootfs.ext2" && mkfs.ext4 -q -d "$out/target" "$out/images/rootfs.ext2"
ROOTFS_VERSION=13 check "ext image, version from ROOTFS_VERSION" br --key "$TK/dev-signing.key" \
	--cert "$TK/dev-signing.pem" --compatible acme-gw-1 --output "$out/images/acme.rfsu"
info=$(rootfs-image info "$out/images/acme.rfsu" --keyring "$TK/keyring")
check_eq "ext4, zstd, version 13" "$(sed -n 's/^fstype=//p; s/^compression=//p; s/^version=//p' <<<"$info" | tr '\n' ' ')" "13 ext4 zstd "

check_fails "missing key" "post-image.sh: --key, --cert and --compatible are required" br --compatible x --version 1
check_fails "no version" "no version" br --key "$TK/dev-signing.key" --cert "$TK/dev-signing.pem" --compatible x
rm "$out/images/rootfs.ext2"
check_fails "no rootfs image" "no rootfs.squashfs" br "${args[@]}"
check_fails "unknown option" "unknown option '--bogus'" br --bogus 1
mksquashfs "$out/target" "$T/other.squashfs" -quiet -noappend >/dev/null
check_fails "signing failure is one line" "cannot load the signing key" br --rootfs "$T/other.squashfs" \
	--key "$out/.config" --cert "$TK/dev-signing.pem" --compatible x --version 1 --compress none
finish
