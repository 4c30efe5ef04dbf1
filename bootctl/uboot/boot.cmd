# rootfs-update A/B boot with boot counting (docs/BOOT.md).
# Build: mkimage -A arm64 -T script -C none -d boot.cmd boot.scr
#
# Environment (RAUC's U-Boot names):
#   BOOT_ORDER="A B"          slots in the order they are tried
#   BOOT_A_LEFT, BOOT_B_LEFT  attempts left, 0..9 (setexpr writes hex, and
#                             for one digit hex and decimal agree)
#   ROOTFS_GOOD               A or B: the last confirmed slot, booted when
#                             no slot has attempts left (instead of halting)
#   ROOTFS_CMDLINE            optional extra kernel parameters
# saveenv needs CONFIG_ENV_IS_IN_MMC (or _IN_FAT/_IN_SPI_FLASH) with the
# layout rootfs-bootctl's fw_env.config describes; the documented default
# is a redundant environment, CONFIG_ENV_SIZE=0x2000 at
# CONFIG_ENV_OFFSET=0x3F8000 and CONFIG_ENV_OFFSET_REDUND=0x3FA000 on the
# boot device, i.e. fw_env.config:
#   /dev/mmcblk0 0x3F8000 0x2000
#   /dev/mmcblk0 0x3FA000 0x2000
# Partitions: 1 = ESP/boot, 2 = rootfs_a, 3 = rootfs_b, 4 = data; kernel
# and initramfs come from the slot's own filesystem (/boot/Image,
# /boot/initrd.img). devtype/devnum come from distro boot (mmc 0 by default).

# Defaults for unset variables are hush-local (name=value, no setenv), so
# saveenv below stores none of them.
test -n "${devtype}" || devtype=mmc
test -n "${devnum}" || devnum=0
test -n "${BOOT_ORDER}" || BOOT_ORDER="A B"
test -n "${BOOT_A_LEFT}" || BOOT_A_LEFT=0
test -n "${BOOT_B_LEFT}" || BOOT_B_LEFT=0

# rootfs_slot and rootfs_part are hush-local too. The first slot in BOOT_ORDER with attempts left: spend one.
rootfs_slot=
rootfs_part=
last_resort=
for s in ${BOOT_ORDER}; do
	if test -z "${rootfs_slot}"; then
		if test "${s}" = "A" && test ${BOOT_A_LEFT} -gt 0; then
			setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
			rootfs_slot=a
			rootfs_part=2
		elif test "${s}" = "B" && test ${BOOT_B_LEFT} -gt 0; then
			setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
			rootfs_slot=b
			rootfs_part=3
		fi
	fi
done

if test -n "${rootfs_slot}"; then
	# Saved before booting: a boot that never comes back still counts.
	saveenv
else
	# No attempts left anywhere: the last confirmed slot, nothing spent;
	# rootfs-init then checks every block first and says so if it is bad.
	echo "rootfs-update: no slot has attempts left, booting the last confirmed slot"
	last_resort=rootfs.last_resort=1
	if test "${ROOTFS_GOOD}" = "B"; then
		rootfs_slot=b
		rootfs_part=3
	else
		rootfs_slot=a
		rootfs_part=2
	fi
fi

echo "rootfs-update: booting slot ${rootfs_slot}"
setenv bootargs "console=${console} rootfs.slot=${rootfs_slot} panic=5 ${last_resort} ${ROOTFS_CMDLINE}"
load ${devtype} ${devnum}:${rootfs_part} ${kernel_addr_r} /boot/Image
load ${devtype} ${devnum}:${rootfs_part} ${ramdisk_addr_r} /boot/initrd.img
booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}
# Only reached when the slot did not load: the attempt is spent, so reset
# and let the counter move on to the other slot.
sleep 5
reset
