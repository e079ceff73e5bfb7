#!/bin/sh
# vm/install-deps.sh - host side setup for the pure cgroup v2 test VM.
#
# Run as root. Idempotent: a second run installs nothing and downloads nothing.
#   1. apt-get installs qemu and the tools the VM scripts use (only if missing).
#   2. Fetches the Debian kernel that `linux-image-amd64` currently depends on
#      with `apt-get download` (NOT installed into /boot), keeps the .deb in
#      $VM_DIR/debs and unpacks it with `dpkg-deb -x` into $VM_DIR/kernel-VER.
#   3. Runs depmod on the unpacked tree so the guest can autoload modules,
#      and extracts the uncompressed vmlinux (faster boots, see below).
#   4. Writes the kernel version to $VM_DIR/kernel.ver.
#
# Environment: VM_DIR (default: <repo>/.vm).
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
VM_DIR=${VM_DIR:-$REPO/.vm}
export DEBIAN_FRONTEND=noninteractive

# Host packages the VM scripts need (qemu without its recommends: no GUI).
PKGS="qemu-system-x86 busybox-static kmod cpio gzip xz-utils zstd coreutils util-linux"

log() { echo "vm/install-deps: $*" >&2; }
die() { log "error: $*"; exit 1; }

APT_UPDATED=0
# apt_update_once: refresh the package lists at most once per run.
apt_update_once() {
    [ "$APT_UPDATED" = 1 ] && return 0
    log "apt-get update"
    apt-get update -qq >&2
    APT_UPDATED=1
}

# is_installed PKG: true if dpkg has PKG fully installed.
is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# install_packages: apt-get install whatever in $PKGS is missing.
install_packages() {
    missing=""
    for p in $PKGS; do
        is_installed "$p" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    [ "$(id -u)" = 0 ] || die "must run as root to install:$missing"
    apt_update_once
    log "installing:$missing"
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
}

# meta_kernel_version: the X in linux-image-X that linux-image-amd64 depends on.
meta_kernel_version() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n 1
}

# pick_kernel_version: ask apt (updating the lists once if needed); fall back
# to the cached version when apt knows nothing (offline).
pick_kernel_version() {
    v=$(meta_kernel_version)
    if [ -z "$v" ]; then
        apt_update_once || true
        v=$(meta_kernel_version)
    fi
    if [ -z "$v" ] && [ -s "$VM_DIR/kernel.ver" ]; then
        v=$(cat "$VM_DIR/kernel.ver")
        log "apt knows no linux-image-amd64; using cached kernel $v"
    fi
    [ -n "$v" ] || die "cannot find the kernel version of linux-image-amd64"
    echo "$v"
}

# download_deb VER: make sure $VM_DIR/debs holds linux-image-VER's .deb;
# prints its path. Debs of other kernel versions are removed.
download_deb() {
    mkdir -p "$VM_DIR/debs"
    deb=$(ls "$VM_DIR/debs/linux-image-$1"_*.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$deb" ]; then
        log "downloading linux-image-$1"
        (cd "$VM_DIR/debs" && apt-get download -qq \
            -o APT::Sandbox::User=root "linux-image-$1" >&2) ||
            { apt_update_once; (cd "$VM_DIR/debs" && apt-get download -qq \
                -o APT::Sandbox::User=root "linux-image-$1" >&2); }
        deb=$(ls "$VM_DIR/debs/linux-image-$1"_*.deb | head -n 1)
    fi
    for old in "$VM_DIR"/debs/linux-image-*.deb; do
        [ "$old" = "$deb" ] || rm -f "$old"
    done
    echo "$deb"
}

# unpack_kernel VER DEB: dpkg-deb -x into $VM_DIR/kernel-VER and run depmod
# there (the .deb ships no modules.dep). A .done stamp makes this idempotent.
unpack_kernel() {
    dir="$VM_DIR/kernel-$1"
    [ -f "$dir/.done" ] && [ "$dir/.done" -nt "$2" ] && return 0
    log "unpacking $(basename "$2")"
    rm -rf "$dir"
    mkdir -p "$dir"
    dpkg-deb -x "$2" "$dir"
    [ -f "$dir/boot/vmlinuz-$1" ] || die "no vmlinuz-$1 in $2"
    depmod -b "$dir" "$1"
    touch "$dir/.done"
}

# extract_vmlinux VER: decompress the ELF vmlinux out of vmlinuz into
# boot/vmlinux-VER. qemu boots it directly (PVH entry point): under TCG this
# saves the ~4 s the guest would spend decompressing itself. Best effort:
# vm/run.sh falls back to vmlinuz if this fails.
extract_vmlinux() {
    z="$VM_DIR/kernel-$1/boot/vmlinuz-$1"
    out="$VM_DIR/kernel-$1/boot/vmlinux-$1"
    [ -s "$out" ] && return 0
    for fmt in xz zstd gzip; do
        case $fmt in
            xz)   magic='\xfd7zXZ\x00'; dec="xz -dc --single-stream" ;;
            zstd) magic='\x28\xb5\x2f\xfd'; dec="zstd -dcq" ;;
            gzip) magic='\x1f\x8b\x08'; dec="gzip -dcq" ;;
        esac
        for off in $(LC_ALL=C grep -obUaP "$magic" "$z" | cut -d: -f1); do
            tail -c +$((off + 1)) "$z" | $dec > "$out.tmp" 2>/dev/null
            if [ "$(head -c 4 "$out.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
                mv "$out.tmp" "$out"
                log "extracted $(basename "$out") ($fmt)"
                return 0
            fi
        done
    done
    rm -f "$out.tmp"
    log "warning: could not extract vmlinux (slower boots with vmlinuz)"
}

# remove_old_kernels VER: drop unpacked trees of other versions.
remove_old_kernels() {
    for d in "$VM_DIR"/kernel-*; do
        [ -d "$d" ] && [ "$d" != "$VM_DIR/kernel-$1" ] && rm -rf "$d"
    done
    return 0
}

main() {
    install_packages
    mkdir -p "$VM_DIR"
    ver=$(pick_kernel_version)
    deb=$(download_deb "$ver")
    unpack_kernel "$ver" "$deb"
    extract_vmlinux "$ver"
    remove_old_kernels "$ver"
    [ "$(cat "$VM_DIR/kernel.ver" 2>/dev/null)" = "$ver" ] ||
        echo "$ver" > "$VM_DIR/kernel.ver"
    log "kernel $ver ready in $VM_DIR/kernel-$ver"
}

main "$@"
