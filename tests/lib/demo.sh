#!/usr/bin/env bash
# make demo: the virtual-gateway story. Until every component has landed,
# it says what it will do.
cat <<'TXT'
rootfs-update demo (virtual gateway under qemu: OVMF firmware, GRUB, Linux, dm-verity)

 1. Factory disk with version 1 in slot A; boot: GRUB picks A, rootfs-init
    verifies and opens it through dm-verity, the system confirms itself.
 2. Install version 2 with rootfs-install over HTTPS into slot B; boot B,
    it verifies and confirms; status shows B primary, rollback floor 2.
 3. Install version 3 whose health check fails; three boots spend its
    attempts, then GRUB falls back to B by itself.
 4. Tamper with slot B's data; verity refuses it and the device falls back.
 5. Installing version 1 again is refused as a downgrade.

The components it needs are still landing; see `issues` for their state.
TXT
