#!/usr/bin/env bash
# rootfs-bootctl on a GRUB environment block in a file: interoperability
# with grub-editenv, the 1024-byte size, the new-file-and-rename write,
# bad input that must leave the file byte-identical, and the shipped boot
# scripts' syntax (grub-script-check, mkimage).
. "$(dirname "$0")/../lib/common.sh"
cd "$T"

ge=$T/grubenv
grub-editenv "$ge" create
grub-editenv "$ge" set ORDER="A B" A_LEFT=3 B_LEFT=3 ROOTFS_GOOD=A ROOTFS_FLOOR=2 other='kept\value'
bctl() { rootfs-bootctl --grubenv "$ge" "$@"; }
list() { grub-editenv "$ge" list | sort; }

check "reads what grub-editenv wrote" bash -c "rootfs-bootctl --grubenv $ge status | grep -q '^slot A: .*attempts left 3, confirmed, primary$'"
ino=$(stat -c %i "$ge")
check "set-next B" bctl set-next B --attempts 2
printf '%s\n' 'A_LEFT=3' 'B_LEFT=2' 'ORDER=B A' 'ROOTFS_FLOOR=2' 'ROOTFS_GOOD=A' 'other=kept\value' | sort > want.txt
list > got.txt
check "grub-editenv list shows what we wrote" cmp got.txt want.txt
check_eq "the file stays 1024 bytes" "$(stat -c %s "$ge")" 1024
check "written as a new file and renamed over the old one" test "$(stat -c %i "$ge")" != "$ino"
check "no temporary file left" bash -c "! ls $T | grep -q tmp"
check "grub-editenv set, we read" grub-editenv "$ge" set B_LEFT=1
check "status sees grub-editenv's counter" bash -c "rootfs-bootctl --grubenv $ge status | grep -q '^slot B: .*attempts left 1, primary$'"
check "mark-bad B" bctl mark-bad B
check_eq "B_LEFT is 0" "$(grub-editenv "$ge" list | grep ^B_LEFT=)" "B_LEFT=0"
check "set-primary A" bctl set-primary A
check_eq "ORDER is A B" "$(grub-editenv "$ge" list | grep ^ORDER=)" "ORDER=A B"
check "status --json" bash -c "rootfs-bootctl --grubenv $ge status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"backend\"]==\"grub\" and d[\"order\"]==[\"A\",\"B\"] and d[\"slots\"][1][\"bad\"]'"

# a change waits for a concurrent one (the lock rootfs-install also takes
# through the library)
check "set-next waits for a concurrent writer's lock" waits_for_lock /var/lock/rootfs-bootctl.lock rootfs-bootctl --grubenv "$ge" set-next A

# all content stays in the first sector (in-place writers change one sector)
check "content within the first 512 bytes" bash -c "tail -c 512 $ge | tr -d '#' | wc -c | grep -qx 0"

# --- bad input: a clear error and no write ---
cp "$ge" good.orig
grub-editenv "$ge" set A_LEFT=x
cp "$ge" nan.orig
check_fails "counter not a number: status" 'attempts counter is not a number' bctl status
check_fails "counter not a number: set-next" 'attempts counter is not a number' bctl set-next B
check "counter not a number: file unchanged" cmp "$ge" nan.orig
cp good.orig "$ge"
grub-editenv "$ge" set A_LEFT=12
check_fails "counter above 9" 'attempts counter above 9' bctl set-next B
cp good.orig "$ge"
grub-editenv "$ge" set ORDER="A C"
check_fails "bad ORDER" 'boot order has an entry other than A or B' bctl status
cp good.orig "$ge"
grub-editenv "$ge" set big="$(head -c 480 /dev/zero | tr '\0' x)"
cp "$ge" big.orig
check_fails "more than one sector of content: refused" 'would not fit in the first 512-byte sector' bctl set-next B
check "more than one sector: file unchanged" cmp "$ge" big.orig
head -c 1000 good.orig > "$ge"
check_fails "a short block" 'not exactly 1024 bytes' bctl status
{ cat good.orig; echo x; } > "$ge"
check_fails "a long block" 'not exactly 1024 bytes' bctl status
sed 's/# GRUB Environment Block/# GRUB Environment Blocc/' good.orig > "$ge"
check_fails "no signature" 'no GRUB Environment Block signature' bctl status
check_fails "missing file" 'No such file' rootfs-bootctl --grubenv "$T/none" status

# --- configuration file selects the backend ---
cp good.orig "$ge"
cat > conf <<CONF
# shared with the installer
[install]
url = https://example.invalid/x
[bootloader]
backend = grub
grubenv = $ge
attempts = 5
[slots]
a = sys_a
CONF
check "config: backend and attempts from the file" bash -c "rootfs-bootctl --config conf set-next B && grub-editenv $ge list | grep -qx B_LEFT=5"
check "config: labels from the file" bash -c "rootfs-bootctl --config conf status | grep -q '^slot A: label sys_a,'"
printf '[bootloader]\nbackend = lilo\n' > conf.bad
check_fails "config: bad backend, with its line" "line 2: expected grub or uboot for 'backend'" rootfs-bootctl --config conf.bad status
printf '[slots]\na = x\na = y\n' > conf.dup
check_fails "config: duplicate key" "line 3: duplicate key 'a' in \[slots\]" rootfs-bootctl --config conf.dup status
printf '[bootloader]\nbackend = grub\ncolour = red\n' > conf.unk
check_fails "config: unknown key in our section" "line 3: unknown key 'colour'" rootfs-bootctl --config conf.unk status
printf '[slots]\n' > conf.none
check_fails "config: no backend" 'no bootloader environment' rootfs-bootctl --config conf.none status
check_fails "config: missing file" 'No such file' rootfs-bootctl --config "$T/none.conf" status

# --- the shipped boot scripts ---
check "grub.cfg passes grub-script-check" grub-script-check "$TOP/bootctl/grub/grub.cfg"
for n in 1 2 3 4 5 6 7 8 9; do
	grep -q "\"\$A_LEFT\" = \"$n\" ]; then set A_LEFT=$((n - 1)); set slot=a" "$TOP/bootctl/grub/grub.cfg" &&
	grep -q "\"\$B_LEFT\" = \"$n\" ]; then set B_LEFT=$((n - 1)); set slot=b" "$TOP/bootctl/grub/grub.cfg" || echo "# no decrement from $n" >> chain.err
done
check "grub.cfg decrements every counter value 1..9" test ! -s chain.err
check "grub.cfg loads and saves the environment by name" \
	grep -q 'load_env --file $envfile ORDER A_LEFT B_LEFT ROOTFS_GOOD' "$TOP/bootctl/grub/grub.cfg"
check "boot.cmd compiles with mkimage -T script" mkimage -A arm64 -T script -C none -d "$TOP/bootctl/uboot/boot.cmd" boot.scr
check "rootfs-mark-good.service runs mark-good" grep -q '^ExecStart=.*rootfs-bootctl mark-good$' "$TOP/bootctl/systemd/rootfs-mark-good.service"
finish
