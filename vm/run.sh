#!/bin/bash
# vm/run.sh - run a command as root in a throw-away qemu VM with a pure
# cgroup v2 hierarchy (all controllers), on a Debian kernel, with the host's
# / shared read-only over virtio-9p.
#
#   vm/run.sh [options] -- CMD [ARG...]
#     --timeout SECONDS  kill the VM after this long (default 900; exit 124)
#     --cwd DIR          directory to run CMD in (default: the current one)
#     --env NAME=VALUE   extra environment variable for CMD (repeatable)
#     --keep DIR         host dir under /tmp, /var/tmp or /run to keep visible
#                        in the VM (repeatable; --cwd and the repo always are)
#     --modules "M..."   kernel modules to modprobe before CMD (e.g. overlay)
#     --mem SIZE         guest memory (default 2G)   --smp N   CPUs (default 2)
#     --accel auto|tcg|kvm  (default auto: KVM only if a probe boot works)
#     --no-pycache       no persistent Python bytecode cache ($VM_DIR/pycache):
#                        PYTHONDONTWRITEBYTECODE=1 instead
#     -q, --quiet        no summary line on stderr
# Environment: VM_DIR (cache dir, default <repo>/.vm), VM_ACCEL, VM_MEM,
# VM_SMP, VM_TIMEOUT, VM_PYCACHE (0 = --no-pycache), VM_QEMU_ARGS (extra
# qemu arguments, split on spaces).
# Exit status: CMD's, or 124 on timeout, 125 if the VM reported no status.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
export VM_DIR=${VM_DIR:-$REPO/.vm}

TIMEOUT=${VM_TIMEOUT:-900}
CWD=$PWD
MEM=${VM_MEM:-2G}
SMP=${VM_SMP:-2}
ACCEL=${VM_ACCEL:-auto}
MODULES=""
PYCACHE=${VM_PYCACHE:-1}
QUIET=0
KEEP=()
ENVS=()
CMD=()
QBOOT=/usr/share/qemu/qboot.rom

log() { echo "vm/run.sh: $*" >&2; }
die() { log "error: $*"; exit 125; }
now() { date +%s.%N; }

usage() {
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
    exit 2
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --timeout) TIMEOUT=$2; shift 2 ;;
            --cwd) CWD=$2; shift 2 ;;
            --env) ENVS+=("$2"); shift 2 ;;
            --keep) KEEP+=("$2"); shift 2 ;;
            --modules) MODULES=$2; shift 2 ;;
            --mem) MEM=$2; shift 2 ;;
            --smp) SMP=$2; shift 2 ;;
            --accel) ACCEL=$2; shift 2 ;;
            --no-pycache) PYCACHE=0; shift ;;
            -q|--quiet) QUIET=1; shift ;;
            -h|--help) usage ;;
            --) shift; CMD=("$@"); break ;;
            -*) log "unknown option $1"; usage ;;
            *) CMD=("$@"); break ;;
        esac
    done
    [ ${#CMD[@]} -gt 0 ] || usage
    CWD=$(cd "$CWD" && pwd -P) || die "no such directory: $CWD"
}

# ensure_images: kernel (install-deps.sh) and initramfs (build-initramfs.sh),
# (re)built when missing or older than their sources; serialised with flock
# so that concurrent runs do not build at the same time.
ensure_images() {
    mkdir -p "$VM_DIR"
    (
        flock 9
        kernel_ready || sh "$HERE/install-deps.sh" || die "install-deps.sh failed"
        initramfs_fresh || sh "$HERE/build-initramfs.sh" ||
            die "build-initramfs.sh failed"
    ) 9>"$VM_DIR/lock" || exit 125
    KVER=$(cat "$VM_DIR/kernel.ver")
    KERNEL="$VM_DIR/kernel-$KVER/boot/vmlinux-$KVER"   # ELF, PVH boot
    [ -s "$KERNEL" ] || KERNEL="$VM_DIR/kernel-$KVER/boot/vmlinuz-$KVER"
    INITRD="$VM_DIR/initramfs.cpio.gz"
}

kernel_ready() {
    [ -s "$VM_DIR/kernel.ver" ] &&
        [ -f "$VM_DIR/kernel-$(cat "$VM_DIR/kernel.ver")/.done" ]
}

initramfs_fresh() {
    local src initrd="$VM_DIR/initramfs.cpio.gz"
    [ -f "$initrd" ] || return 1
    for src in "$HERE/init" "$HERE/build-initramfs.sh" "$VM_DIR/kernel.ver"; do
        [ "$src" -nt "$initrd" ] && return 1
    done
    return 0
}

# shq ARG: ARG quoted for POSIX sh.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# write_scratch: the scratch dir shared with the VM: config (sourced by
# /init), env (NAME=VALUE lines) and cmd (the script run in the guest).
write_scratch() {
    SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/pyrun-vm.XXXXXX")
    local keep="$CWD $REPO ${KEEP[*]:-}" a
    {
        echo "VM_CWD=$(shq "$CWD")"
        echo "VM_KEEP=$(shq "$keep")"
        echo "VM_MODDIR=$(shq "$VM_DIR/kernel-$KVER/lib/modules/$KVER")"
        echo "VM_MODULES=$(shq "$MODULES")"
        echo "VM_PYCACHE=$PYCACHE"
    } > "$SCRATCH/config"
    : > "$SCRATCH/env"
    for a in "${ENVS[@]+"${ENVS[@]}"}"; do
        printf '%s\n' "$a" >> "$SCRATCH/env"
    done
    {
        echo "cd -- $(shq "$CWD") || exit 125"
        for a in "${CMD[@]}"; do printf '%s ' "$(shq "$a")"; done
        echo
    } > "$SCRATCH/cmd"
}

# kvm_works: probe once per host boot (cached in $VM_DIR/kvm-probe): boot
# the kernel without an initramfs under KVM; it must print its banner and
# reach its panic (qemu then exits 0 thanks to -no-reboot) within 10 s.
kvm_works() {
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
    local boot cache=$VM_DIR/kvm-probe out
    boot=$(cat /proc/sys/kernel/random/boot_id)
    if [ -f "$cache" ] && [ "$(head -n 1 "$cache")" = "$boot" ]; then
        [ "$(sed -n 2p "$cache")" = yes ]
        return
    fi
    log "probing KVM (once per host boot)..."
    out=$(timeout -k 2 10 qemu-system-x86_64 -nodefaults -no-user-config \
        -display none -no-reboot -accel kvm -cpu host -m 256 -serial stdio \
        -kernel "$KERNEL" -append "console=ttyS0 panic=-1" </dev/null 2>&1) &&
        grep -q "Linux version" <<<"$out" && grep -q "Kernel panic" <<<"$out" &&
        { printf '%s\nyes\n' "$boot" > "$cache"; return 0; }
    printf '%s\nno\n' "$boot" > "$cache"
    return 1
}

pick_accel() {
    case "$ACCEL" in
        tcg|kvm) ;;
        auto) if kvm_works; then ACCEL=kvm; else ACCEL=tcg; fi ;;
        *) die "bad --accel $ACCEL" ;;
    esac
    if [ "$ACCEL" = kvm ]; then CPU=host; else CPU=max; fi
}

# boot: run qemu under timeout(1), console on our stdout.
boot() {
    local append="console=ttyS0 quiet panic=-1 oops=panic cgroup_no_v1=all"
    append+=" mitigations=off random.trust_cpu=on 8250.nr_uarts=1"
    local share="security_model=passthrough,multidevs=remap" bios=()
    # qboot: a minimal firmware, faster than SeaBIOS and silent on the console.
    [ -f "$QBOOT" ] && bios=(-bios "$QBOOT")
    # Persistent bytecode cache for the guest's Pythons (see vm/init).
    local pyc=()
    if [ "$PYCACHE" = 1 ]; then
        mkdir -p "$VM_DIR/pycache"
        # shellcheck disable=SC2054  # commas belong to qemu's syntax
        pyc=(-fsdev "local,id=pycache,path=$VM_DIR/pycache,$share"
            -device virtio-9p-pci,fsdev=pycache,mount_tag=pycache)
    fi
    # shellcheck disable=SC2086  # VM_QEMU_ARGS is split on purpose
    timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config \
        -nographic -no-reboot -monitor none -serial stdio \
        -machine q35 "${bios[@]+"${bios[@]}"}" \
        -accel "$ACCEL" -cpu "$CPU" -smp "$SMP" -m "$MEM" \
        -kernel "$KERNEL" -initrd "$INITRD" -append "$append" \
        -fsdev "local,id=hostroot,path=/,readonly=on,$share" \
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
        -fsdev "local,id=scratch,path=$SCRATCH,$share" \
        -device virtio-9p-pci,fsdev=scratch,mount_tag=scratch \
        "${pyc[@]+"${pyc[@]}"}" \
        ${VM_QEMU_ARGS:-} </dev/null &
    QEMU=$!
    wait $QEMU
}

# mtime FILE: modification time (host clock, s.ms) or empty.
mtime() { stat -c %.3Y "$1" 2>/dev/null || true; }

# report RC: summary line, then the exit status to use.
report() {
    local qrc=$1 t_end started ended rc
    t_end=$(now)
    started=$(mtime "$SCRATCH/started")
    ended=$(mtime "$SCRATCH/status")
    if [ -s "$SCRATCH/status" ]; then
        rc=$(cat "$SCRATCH/status")
    elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
        log "timeout: VM killed after ${TIMEOUT}s"; rc=124
    else
        log "VM stopped without reporting a status (qemu exit $qrc)"; rc=125
    fi
    if [ "$QUIET" = 0 ]; then
        awk -v t0="$T0" -v s="$started" -v e="$ended" -v t="$t_end" \
            -v a="$ACCEL" -v rc="$rc" 'BEGIN {
            b = (s == "") ? "?" : sprintf("%.1fs", s - t0)
            c = (s == "" || e == "") ? "?" : sprintf("%.1fs", e - s)
            printf "vm/run.sh: accel=%s boot=%s command=%s total=%.1fs exit=%s\n",
                a, b, c, t - t0, rc }' >&2
    fi
    return "$rc"
}

cleanup() {
    [ -n "${QEMU:-}" ] && kill "$QEMU" 2>/dev/null
    [ -n "${SCRATCH:-}" ] && rm -rf "$SCRATCH"
    return 0
}

main() {
    T0=$(now)
    parse_args "$@"
    command -v qemu-system-x86_64 >/dev/null ||
        sh "$HERE/install-deps.sh" || die "vm/install-deps.sh failed"
    ensure_images
    pick_accel
    trap cleanup EXIT
    trap 'log "interrupted"; exit 130' INT
    trap 'log "terminated"; exit 143' TERM
    write_scratch
    local qrc=0
    boot || qrc=$?
    QEMU=""
    report "$qrc"
}

main "$@"
