#!/usr/bin/env bash
# rootfs-bootctl on U-Boot environments: interoperability with
# fw_printenv/fw_setenv (libubootenv-tool) and mkenvimage (u-boot-tools),
# single and redundant copies, power cuts, and bad input that must leave
# the device byte-identical.
. "$(dirname "$0")/../lib/common.sh"
cd "$T"

SZ=0x2000
printf 'bootcmd=run distro_bootcmd\nBOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\nROOTFS_GOOD=A\nROOTFS_FLOOR=4\n' > vars.txt

# redundant: two mkenvimage copies in one file (flags 1 = current)
mkenvimage -r -s $SZ -o c0.bin vars.txt
cat c0.bin c0.bin > red.bin
printf '%s 0x0 %s\n%s 0x2000 %s\n' "$T/red.bin" $SZ "$T/red.bin" $SZ > red.config
# single copy at an offset inside a larger "device"
mkenvimage -s $SZ -o s0.bin vars.txt
{ head -c 4096 /dev/zero; cat s0.bin; head -c 4096 /dev/zero; } > single.bin
printf '%s 0x1000 %s\n' "$T/single.bin" $SZ > single.config

bctl() { rootfs-bootctl --fw-env-config "$@"; }
# fw_printenv's full listing, sorted, with "using default" caught
printenv_sorted() { fw_printenv -c "$1" 2>"$T/fwerr" | sort; ! grep -q . "$T/fwerr"; }

for kind in red single; do
	cfg=$kind.config
	check "$kind: reads the mkenvimage environment" \
		bash -c "rootfs-bootctl --fw-env-config $cfg status | grep -qx 'rollback floor: 4' &&
		         rootfs-bootctl --fw-env-config $cfg status | grep -q '^slot A: .*attempts left 3, confirmed, primary$'"
	check "$kind: set-next B" bctl $cfg set-next B --attempts 2
	printenv_sorted $cfg > got.txt
	printf '%s\n' 'BOOT_A_LEFT=3' 'BOOT_B_LEFT=2' 'BOOT_ORDER=B A' 'ROOTFS_FLOOR=4' 'ROOTFS_GOOD=A' \
		'bootcmd=run distro_bootcmd' | sort > want.txt
	check "$kind: fw_printenv reads back exactly what we wrote" cmp got.txt want.txt
	check "$kind: mark-bad B" bctl $cfg mark-bad B
	check_eq "$kind: fw_printenv sees B_LEFT=0" "$(fw_printenv -c $cfg -n BOOT_B_LEFT)" 0
	check_fails "$kind: mark-bad of the confirmed slot is refused" 'no slot to boot' bctl $cfg mark-bad A
	check "$kind: fw_setenv writes, we read" fw_setenv -c $cfg BOOT_A_LEFT 1
	check "$kind: status shows fw_setenv's counter" \
		bash -c "rootfs-bootctl --fw-env-config $cfg status | grep -q '^slot A: .*attempts left 1,'"
	check "$kind: status --json is valid JSON" \
		bash -c "rootfs-bootctl --fw-env-config $cfg status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"backend\"]==\"uboot\" and d[\"floor\"]==4 and d[\"slots\"][0][\"attempts\"]==1'"
	check "$kind: set-primary B, fw_printenv agrees" \
		bash -c "rootfs-bootctl --fw-env-config $cfg set-primary B && test \"\$(fw_printenv -c $cfg -n BOOT_ORDER)\" = 'B A'"
	# U-Boot's setexpr writes hex, sometimes with 0x
	fw_setenv -c $cfg BOOT_B_LEFT 0x2
	check "$kind: a 0x-hex counter reads" \
		bash -c "rootfs-bootctl --fw-env-config $cfg status | grep -q '^slot B: .*attempts left 2,'"
done

# changes wait for fw_setenv's lock (fw_setenv itself takes it too)
check "set-next waits for fw_setenv's lock" waits_for_lock /var/lock/fw_printenv.lock bctl red.config set-next A

# --- mark-good needs a booted slot and its version ---
echo 'console=ttyS0 panic=5' > cmdline.none
echo 'console=ttyS0 rootfs.slot=b panic=5' > cmdline.b
check_fails "mark-good with nothing booted" 'nothing to confirm' bctl red.config --cmdline cmdline.none mark-good
check_fails "mark-good without the slot's partition" "partition 'rootfs_b' not found" \
	rootfs-bootctl --cmdline cmdline.b --fw-env-config red.config mark-good

# --- power cut during a redundant write, at every byte offset ---
# A cut after byte k leaves the written copy new up to k and old after it
# (writes are in place: the file never changes size). Between two bytes
# that differ the image does not change, so checking the image after each
# differing byte (and before the first) covers all ENVSIZE+1 cut points.
# Both directions: the first write goes to copy 1, the second to copy 0.
# Padding with 0 (mkenvimage pads with 0xff by default) keeps the distinct
# images few: only the bytes that differ make a new one.
mkenvimage -r -p 0 -s $SZ -o c0.bin vars.txt
cat c0.bin c0.bin > cut.bin
printf '%s 0x0 %s\n%s 0x2000 %s\n' "$T/cut.bin" $SZ "$T/cut.bin" $SZ > cut.config
bad=0 n=0 cuts=0
for op in "set-next B" "mark-bad B"; do
	cp cut.bin old.bin
	fw_printenv -c cut.config | sort > old.txt
	ours_old=$(rootfs-bootctl --fw-env-config cut.config status | tail -n +2)
	rootfs-bootctl --fw-env-config cut.config $op >/dev/null
	cp cut.bin new.bin
	fw_printenv -c cut.config | sort > new.txt
	ours_new=$(rootfs-bootctl --fw-env-config cut.config status | tail -n +2)
	cmp -s old.txt new.txt && { bad=$((bad + 1)); echo "# $op changed nothing"; }
	rm -rf mixed
	cuts=$((cuts + $(python3 - old.bin new.bin mixed <<'PY'
import sys, os
old = open(sys.argv[1], 'rb').read(); new = open(sys.argv[2], 'rb').read(); d = sys.argv[3]
os.makedirs(d)
size = 0x2000
diff = [i for i in range(len(old)) if old[i] != new[i]]
lo = diff[0] - diff[0] % size                    # the copy that was written
assert diff[-1] < lo + size, "the write touched the other copy"
seen = set()
for cut in range(size + 1):
    img = new[:lo + cut] + old[lo + cut:]
    if img not in seen:
        seen.add(img)
        open(os.path.join(d, '%05d' % cut), 'wb').write(img)
print(size + 1)
PY
)))
	for f in mixed/*; do
		printf '%s 0x0 %s\n%s 0x2000 %s\n' "$T/$f" $SZ "$T/$f" $SZ > m.config
		fw_printenv -c m.config 2>m.err | sort > m.txt
		if grep -q . m.err || ! { cmp -s m.txt old.txt || cmp -s m.txt new.txt; }; then
			bad=$((bad + 1)); echo "# $op, cut $(basename $f): fw_printenv: $(head -1 m.err)"
		fi
		ours=$(rootfs-bootctl --fw-env-config m.config status 2>&1 | tail -n +2)
		if [ "$ours" != "$ours_old" ] && [ "$ours" != "$ours_new" ]; then
			bad=$((bad + 1)); echo "# $op, cut $(basename $f): ours: $ours"
		fi
		n=$((n + 1))
	done
done
check_eq "power cut: all $cuts cut points ($n distinct images), fw_printenv and ours see the old or the new state, never a mix or a default" $bad 0

# --- bad input: a clear error and no write ---
# bad CRC on both copies
cp old.bin badcrc.bin
printf X | dd of=badcrc.bin bs=1 seek=100 conv=notrunc status=none
printf X | dd of=badcrc.bin bs=1 seek=$((0x2000 + 100)) conv=notrunc status=none
printf '%s 0x0 %s\n%s 0x2000 %s\n' "$T/badcrc.bin" $SZ "$T/badcrc.bin" $SZ > badcrc.config
cp badcrc.bin badcrc.orig
check_fails "bad CRC on both copies: status" 'bad CRC on both environment copies' bctl badcrc.config status
check_fails "bad CRC on both copies: set-next" 'bad CRC on both environment copies' bctl badcrc.config set-next B
check "bad CRC on both copies: device unchanged" cmp badcrc.bin badcrc.orig
# a valid CRC over an area with no terminator
python3 - noterm.bin <<'PY'
import sys, struct, zlib
data = b'BOOT_ORDER=A B\0' + b'x' * (0x2000 - 4 - 15)
open(sys.argv[1], 'wb').write(struct.pack('<I', zlib.crc32(data)) + data)
PY
printf '%s 0x0 %s\n' "$T/noterm.bin" $SZ > noterm.config
cp noterm.bin noterm.orig
check_fails "no terminator: set-next" 'no terminator' bctl noterm.config set-next B
check "no terminator: device unchanged" cmp noterm.bin noterm.orig
# fw_env.config past the end of the device
head -c $((0x2000 + 100)) old.bin > short.bin
printf '%s 0x0 %s\n%s 0x2000 %s\n' "$T/short.bin" $SZ "$T/short.bin" $SZ > short.config
cp short.bin short.orig
check_fails "config past the end: set-next" 'past the end of the device' bctl short.config set-next B
check "config past the end: device unchanged" cmp short.bin short.orig
# a counter that is not a number
cp old.bin nan.bin
printf '%s 0x0 %s\n%s 0x2000 %s\n' "$T/nan.bin" $SZ "$T/nan.bin" $SZ > nan.config
fw_setenv -c nan.config BOOT_A_LEFT three
cp nan.bin nan.orig
check_fails "counter not a number: status" 'attempts counter is not a number' bctl nan.config status
check_fails "counter not a number: mark-bad" 'attempts counter is not a number' bctl nan.config mark-bad B
check "counter not a number: device unchanged" cmp nan.bin nan.orig
# unusable fw_env.config and arguments
echo "$T/old.bin 0x0" > broken.config
check_fails "fw_env.config without a size" "needs 'device offset size'" bctl broken.config status
check_fails "missing fw_env.config" 'cannot read fw_env.config' bctl "$T/none.config" status
check_fails "bad slot name" "bad slot 'C'" bctl red.config set-next C
check_fails "attempts out of range" 'attempts must be a number from 1 to 9' bctl red.config set-next A --attempts 10
check_fails "unknown command" "unknown command 'reboot'" bctl red.config reboot
check_fails "both backends" 'exclude each other' rootfs-bootctl --grubenv x --fw-env-config red.config status
finish
