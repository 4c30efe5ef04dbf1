#!/usr/bin/env bash
# The virtual gateway with U-Boot instead of OVMF + GRUB: Debian's
# u-boot-qemu qemu-x86 build as the machine's firmware runs
# tests/lib/gateway-uboot.cmd, with the A/B environment in the disk
# (fw_printenv/rootfs-bootctl --fw-env-config on the host, the guest's
# rootfs-bootctl on /dev/vda). The demo's five steps on one disk
# (tests/lib/demo.sh): v1 boots and confirms; v2 installed over HTTPS is
# tried and confirmed; v3 spends its attempts and U-Boot falls back to B;
# a tampered B is refused until U-Boot is on its last resort; v1 is
# refused as a downgrade.
DEMO_TAP=1
DEMO_BOOTLOADER=uboot
source "$(dirname "$0")/../lib/demo.sh"
demo_main
finish
