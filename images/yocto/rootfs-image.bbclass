# rootfs-image.bbclass: signed rootfs-update images (.rfsu) from Yocto.
#
# Adds image conversion types: IMAGE_FSTYPES += "squashfs.rfsu" (or
# "erofs.rfsu", "ext4.rfsu") makes <image>.squashfs.rfsu next to the
# filesystem image, with `rootfs-image create` from rootfs-update-native.
# See images/yocto/README.md and docs/FORMAT.md.

# Signing key: a PEM file, or a pkcs11:/provider URI that OpenSSL can load
# (keep release keys out of the build tree).
ROOTFS_IMAGE_KEY ??= ""
# Signing certificate first, then intermediates (PEM).
ROOTFS_IMAGE_CERT ??= ""
# The product string devices match exactly.
ROOTFS_IMAGE_COMPATIBLE ??= "${MACHINE}"
# Monotonic u64: devices refuse versions below their floor. Must grow with
# every release (a CI build number, or a date as below).
ROOTFS_IMAGE_VERSION ??= "${@d.getVar('DATETIME')[:12]}"
ROOTFS_IMAGE_VERSION[vardepsexclude] = "DATETIME"
ROOTFS_IMAGE_VERSION_STRING ??= "${DISTRO_VERSION}"
# auto: zstd for ext4, none for squashfs and erofs (already compressed).
ROOTFS_IMAGE_COMPRESS ??= "auto"
ROOTFS_IMAGE_EXTRA_ARGS ??= ""

CONVERSIONTYPES:append = " rfsu"
CONVERSION_DEPENDS_rfsu = "rootfs-update-native"
CONVERSION_CMD:rfsu = "rootfs_image_create ${type}"

rootfs_image_create() {
	fstype="$1"
	if [ -z "${ROOTFS_IMAGE_KEY}" ] || [ -z "${ROOTFS_IMAGE_CERT}" ]; then
		bbfatal "rootfs-image: set ROOTFS_IMAGE_KEY and ROOTFS_IMAGE_CERT"
	fi
	compress="${ROOTFS_IMAGE_COMPRESS}"
	if [ "$compress" = auto ]; then
		compress=none
		[ "$fstype" = ext4 ] && compress=zstd
	fi
	# SOURCE_DATE_EPOCH (reproducible builds) becomes build_time.
	rootfs-image create \
		--rootfs "${IMGDEPLOYDIR}/${IMAGE_NAME}${IMAGE_NAME_SUFFIX}.$fstype" \
		--key "${ROOTFS_IMAGE_KEY}" --cert "${ROOTFS_IMAGE_CERT}" \
		--compatible "${ROOTFS_IMAGE_COMPATIBLE}" \
		--version "${ROOTFS_IMAGE_VERSION}" \
		--version-string "${ROOTFS_IMAGE_VERSION_STRING}" \
		--fstype "$fstype" --compress "$compress" ${ROOTFS_IMAGE_EXTRA_ARGS} \
		-o "${IMGDEPLOYDIR}/${IMAGE_NAME}${IMAGE_NAME_SUFFIX}.$fstype.rfsu"
}

# The signing inputs change the output without changing the rootfs.
do_image_squashfs[vardeps] += "ROOTFS_IMAGE_KEY ROOTFS_IMAGE_CERT ROOTFS_IMAGE_COMPATIBLE ROOTFS_IMAGE_VERSION"
do_image_erofs[vardeps] += "ROOTFS_IMAGE_KEY ROOTFS_IMAGE_CERT ROOTFS_IMAGE_COMPATIBLE ROOTFS_IMAGE_VERSION"
do_image_ext4[vardeps] += "ROOTFS_IMAGE_KEY ROOTFS_IMAGE_CERT ROOTFS_IMAGE_COMPATIBLE ROOTFS_IMAGE_VERSION"
