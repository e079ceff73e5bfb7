#!/bin/sh
# Builds a minimal root filesystem from Debian's busybox-static: one static binary plus
# its applet links. Usage: make-rootfs.sh DIR
set -eu
dir=${1:?usage: make-rootfs.sh DIR}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "make-rootfs.sh: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dir/bin" "$dir/proc" "$dir/dev" "$dir/sys" "$dir/tmp" "$dir/etc" "$dir/root"
cp "$busybox" "$dir/bin/busybox"
"$dir/bin/busybox" --install -s "$dir/bin"
# --install links to the absolute path of the binary it ran from; point them inside the rootfs.
for link in "$dir"/bin/*; do
    # busybox's own ln: static. coreutils' ln (dynamic, loaded over 9p) takes ~150 ms a link
    # in the TCG VM: 42 s for the ~270 links against 4 s, of a fixture's 60 s budget.
    [ -L "$link" ] && "$dir/bin/busybox" ln -sf busybox "$link"
done
ln -sfn bin "$dir/sbin"
mkdir -p "$dir/usr"
ln -sfn ../bin "$dir/usr/bin"
chmod 1777 "$dir/tmp"
# Users and groups for the applets that name them (ps, id, ls -l), read from these files
# alone: with no nsswitch.conf a static glibc may try modules it cannot load ("fatal
# library error, lookup self") on a host set up differently from this one.
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' > "$dir/etc/nsswitch.conf"
