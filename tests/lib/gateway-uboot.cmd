# The U-Boot variant of the virtual gateway: bootctl/uboot/boot.cmd's A/B
# logic (docs/BOOT.md) for Debian's u-boot-qemu qemu-x86 build, run as
# the machine's firmware (qemu -bios u-boot.rom) by distro boot from the
# ESP's /boot.scr. Build: mkimage -A x86 -T script -C none -d THIS boot.scr
#
# That build keeps its environment nowhere and has no setexpr, so:
# - the A/B environment is a plain (single-copy) U-Boot environment of
#   0x2000 bytes at byte 0x80000 of the disk (sectors 1024-1039, in the gap
#   before the ESP), fw_env.config "DISK 0x80000 0x2000", read with
#   `env import -c` of the named variables only and written back with
#   `env export -c` + `virtio write` before booting;
# - the decrement is an if chain over 9..1, as in bootctl/grub/grub.cfg.
# Partitions: 2 = rootfs_a, 3 = rootfs_b; each slot's /boot/vmlinuz and
# /boot/initrd.img, booted with zboot.

rootfs_slot=
last_resort=
rootfs_part=
if virtio read ${loadaddr} 0x400 0x10 && env import -c ${loadaddr} 0x2000 BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT ROOTFS_GOOD ROOTFS_FLOOR; then
	echo "rootfs-update: environment loaded"
else
	echo "rootfs-update: no valid environment at 0x80000"
fi
test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 0
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 0
test -n "${ROOTFS_GOOD}" || setenv ROOTFS_GOOD A
test -n "${ROOTFS_FLOOR}" || setenv ROOTFS_FLOOR 0

# The first slot in BOOT_ORDER with attempts left: spend one.
for s in ${BOOT_ORDER}; do
	if test -z "${rootfs_slot}"; then
		if test "${s}" = "A"; then
			if   test "${BOOT_A_LEFT}" = 9; then setenv BOOT_A_LEFT 8; rootfs_slot=a
			elif test "${BOOT_A_LEFT}" = 8; then setenv BOOT_A_LEFT 7; rootfs_slot=a
			elif test "${BOOT_A_LEFT}" = 7; then setenv BOOT_A_LEFT 6; rootfs_slot=a
			elif test "${BOOT_A_LEFT}" = 6; then setenv BOOT_A_LEFT 5; rootfs_slot=a
			elif test "${BOOT_A_LEFT}" = 5; then setenv BOOT_A_LEFT 4; rootfs_slot=a
			elif test "${BOOT_A_LEFT}" = 4; then setenv BOOT_A_LEFT 3; rootfs_slot=a
			elif test "${BOOT_A_LEFT}" = 3; then setenv BOOT_A_LEFT 2; rootfs_slot=a
			elif test "${BOOT_A_LEFT}" = 2; then setenv BOOT_A_LEFT 1; rootfs_slot=a
			elif test "${BOOT_A_LEFT}" = 1; then setenv BOOT_A_LEFT 0; rootfs_slot=a
			fi
		elif test "${s}" = "B"; then
			if   test "${BOOT_B_LEFT}" = 9; then setenv BOOT_B_LEFT 8; rootfs_slot=b
			elif test "${BOOT_B_LEFT}" = 8; then setenv BOOT_B_LEFT 7; rootfs_slot=b
			elif test "${BOOT_B_LEFT}" = 7; then setenv BOOT_B_LEFT 6; rootfs_slot=b
			elif test "${BOOT_B_LEFT}" = 6; then setenv BOOT_B_LEFT 5; rootfs_slot=b
			elif test "${BOOT_B_LEFT}" = 5; then setenv BOOT_B_LEFT 4; rootfs_slot=b
			elif test "${BOOT_B_LEFT}" = 4; then setenv BOOT_B_LEFT 3; rootfs_slot=b
			elif test "${BOOT_B_LEFT}" = 3; then setenv BOOT_B_LEFT 2; rootfs_slot=b
			elif test "${BOOT_B_LEFT}" = 2; then setenv BOOT_B_LEFT 1; rootfs_slot=b
			elif test "${BOOT_B_LEFT}" = 1; then setenv BOOT_B_LEFT 0; rootfs_slot=b
			fi
		fi
	fi
done

if test -n "${rootfs_slot}"; then
	# Saved before booting: a boot that never comes back still counts.
	env export -c -s 0x2000 ${loadaddr} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT ROOTFS_GOOD ROOTFS_FLOOR
	virtio write ${loadaddr} 0x400 0x10
else
	echo "rootfs-update: no slot has attempts left, booting the last confirmed slot"
	if test "${ROOTFS_GOOD}" = "B"; then rootfs_slot=b; else rootfs_slot=a; fi
	last_resort=rootfs.last_resort=1
fi
if test "${rootfs_slot}" = "a"; then rootfs_part=2; else rootfs_part=3; fi

echo "rootfs-update: booting slot ${rootfs_slot}"
setenv bootargs "console=ttyS0 rootfs.slot=${rootfs_slot} panic=5 ${last_resort} gw.env=uboot"
# The initramfs at 256 MiB: at the default ramdisk_addr_r (64 MiB) a large
# one is overwritten while the kernel starts (seen with the ASan
# build's 14 MB initramfs: "ZSTD-compressed data is corrupt").
rootfs_initrd=0x10000000
load virtio 0:${rootfs_part} ${kernel_addr_r} /boot/vmlinuz
load virtio 0:${rootfs_part} ${rootfs_initrd} /boot/initrd.img
zboot ${kernel_addr_r} - ${rootfs_initrd} ${filesize}
# Only reached when the slot did not load: the attempt is spent, so reset
# and let the counter move on to the other slot.
sleep 5
reset
