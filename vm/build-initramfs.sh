#!/bin/sh
# vm/build-initramfs.sh - build $VM_DIR/initramfs.cpio.gz for the test VM.
#
# Contents: Debian's static busybox (+ applet symlinks), vm/init as /init, and
# the kernel modules needed for virtio-pci + 9p, plus /modules/order: the
# modules in dependency order, computed here with `modinfo -F depends` (the
# kernel .deb has no usable modules.dep for this). Compressed modules
# (.ko.xz/.ko.zst/.ko.gz) are decompressed here: busybox insmod may not.
#
# Needs vm/install-deps.sh to have run. Environment: VM_DIR (default <repo>/.vm).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
VM_DIR=${VM_DIR:-$REPO/.vm}
BUSYBOX=${BUSYBOX:-/bin/busybox}
# Modules the VM needs; their dependencies are added automatically.
WANTED="virtio_pci 9pnet_virtio 9p"

log() { echo "vm/build-initramfs: $*" >&2; }
die() { log "error: $*"; exit 1; }

# find_module NAME: path of NAME's .ko* file ('-' and '_' are equivalent).
find_module() {
    n1=$(echo "$1" | tr - _)
    n2=$(echo "$1" | tr _ -)
    grep -E "/($n1|$n2)\.ko(\.xz|\.zst|\.gz)?\$" "$WORK/all-modules" | head -n 1
}

# add_module NAME: append NAME's dependencies, then NAME, to $WORK/order
# (depth-first, each module once).
add_module() {
    grep -qx "$1" "$WORK/order" && return 0
    f=$(find_module "$1")
    [ -n "$f" ] || die "module $1 not found in $MODDIR"
    for dep in $(modinfo -F depends "$f" | tr , ' '); do
        add_module "$dep"
    done
    grep -qx "$1" "$WORK/order" || echo "$1" >> "$WORK/order"
}

# copy_module NAME: put NAME.ko (decompressed) into the image's /modules.
copy_module() {
    f=$(find_module "$1")
    out="$ROOT/modules/$1.ko"
    case "$f" in
        *.ko)     cp "$f" "$out" ;;
        *.ko.xz)  xz -dc "$f" > "$out" ;;
        *.ko.zst) zstd -qdc "$f" > "$out" ;;
        *.ko.gz)  gzip -dc "$f" > "$out" ;;
    esac
}

# install_busybox: static busybox plus a symlink per applet in /bin, and
# /sbin/modprobe (the kernel's module autoload helper path).
install_busybox() {
    file -L "$BUSYBOX" 2>/dev/null | grep -q dynamic &&
        die "$BUSYBOX is not static (install busybox-static)"
    mkdir -p "$ROOT/bin" "$ROOT/sbin"
    cp "$BUSYBOX" "$ROOT/bin/busybox"
    for a in $("$BUSYBOX" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$ROOT/bin/$a"
    done
    ln -sf ../bin/busybox "$ROOT/sbin/modprobe"
}

# make_tree: lay out the initramfs directory in $ROOT.
make_tree() {
    mkdir -p "$ROOT/modules" "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" \
        "$ROOT/host" "$ROOT/scratch" "$ROOT/keep" "$ROOT/lib/modules/$KVER" \
        "$ROOT/tmp" "$ROOT/etc"
    install_busybox
    cp "$HERE/init" "$ROOT/init"
    chmod 755 "$ROOT/init"
    echo "$KVER" > "$ROOT/etc/kernel.ver"
    find "$MODDIR" -name '*.ko*' > "$WORK/all-modules"
    : > "$WORK/order"
    for m in $WANTED; do add_module "$m"; done
    while read -r m; do copy_module "$m"; done < "$WORK/order"
    cp "$WORK/order" "$ROOT/modules/order"
    log "modules (load order): $(tr '\n' ' ' < "$WORK/order")"
}

# pack: cpio (newc) + gzip, written atomically.
pack() {
    (cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
        gzip -6 > "$OUT.$$"
    mv "$OUT.$$" "$OUT"
    log "wrote $OUT ($(du -h "$OUT" | cut -f1))"
}

main() {
    [ -s "$VM_DIR/kernel.ver" ] || die "no kernel: run vm/install-deps.sh first"
    KVER=$(cat "$VM_DIR/kernel.ver")
    MODDIR="$VM_DIR/kernel-$KVER/lib/modules/$KVER"
    [ -d "$MODDIR" ] || die "$MODDIR missing: run vm/install-deps.sh"
    OUT="$VM_DIR/initramfs.cpio.gz"
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    ROOT="$WORK/root"
    make_tree
    pack
}

main "$@"
