#!/usr/bin/env bash
# The virtual gateway end to end (make demo's five steps, shared code in
# tests/lib/demo.sh), one disk through the whole scenario: factory v1 in A
# boots and confirms; v2 installed over HTTPS into B is tried and
# confirmed; v3 (never healthy) spends its three attempts and GRUB falls
# back to B; a tampered B is refused by dm-verity until no verified slot is
# left; v1 is refused as a downgrade. Asserts on each boot's serial console
# and on the grubenv as grub-editenv reads it.
DEMO_TAP=1
source "$(dirname "$0")/../lib/demo.sh"
demo_main
finish
