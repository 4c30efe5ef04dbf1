SUMMARY = "rootfs-update host tools (rootfs-image) for signing update images"
LICENSE = "CLOSED"
# Point SRC_URI at your copy of this repository.
SRC_URI = "git://git.example.com/rootfs-update.git;protocol=https;branch=main"
SRCREV = "${AUTOREV}"
PV = "1.0+git${SRCPV}"
S = "${WORKDIR}/git"

DEPENDS = "cryptsetup-native util-linux-native openssl-native curl-native zstd-native \
           zlib-native libubootenv-native libcmocka-native"
inherit native pkgconfig

do_compile() {
	oe_runmake B=build all
}
do_install() {
	install -d ${D}${bindir}
	install -m 0755 ${B}/build/bin/rootfs-image ${D}${bindir}/
}
