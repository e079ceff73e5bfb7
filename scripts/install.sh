#!/bin/sh
# Sets pyrun up on a Debian/Ubuntu machine, from scratch, as root.
# Used by the README, by .ci/run and by the Vagrantfile: one place knows what pyrun needs.
#
#   scripts/install.sh            system packages, .venv with pyrun and its test tools,
#                                 /usr/local/bin/pyrun, the example busybox bundle
#   PYRUN_SKIP_APT=1 ...          skip apt (packages already there)
#
# What only the tests and benchmarks need (qemu and a kernel for the cgroup v2 VM, the
# engines, runc and crun) is scripts/install-test-deps.sh's, which `make test` runs.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run me as root (sudo $0)" >&2
    exit 1
fi

# What each package is for:
#   build-essential python3-dev  compile the cffi shim (csrc/)
#   python3-venv                 the virtualenv pyrun runs from
#   libcap-dev                   python-prctl builds against libcap
#   libseccomp-dev               the libseccomp binding (csrc/build_seccomp.py) links against it
#   busybox-static               the root filesystem of examples and tests
#   iproute2 procps util-linux   ip/ps/unshare/script, used by tests and labs
#   nftables                     nft(8): masquerade and published ports of --network bridge
#   make                         the Makefile targets
if [ "${PYRUN_SKIP_APT:-0}" != 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        build-essential python3-dev python3-venv libcap-dev libseccomp-dev \
        busybox-static iproute2 procps util-linux make nftables >/dev/null
fi

# Debian's python3, not whatever python3 comes first on PATH (a pyenv shim costs ~80 ms a call).
python=/usr/bin/python3
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip setuptools wheel cffi
# editable_mode=compat: a plain path in a .pth file, no import hook on pyrun's start-up path.
# Extras: dev = the test and lint tools; net = pyroute2, the netlink library of --network bridge.
.venv/bin/pip install -q --no-build-isolation -e ".[dev,net]" --config-settings editable_mode=compat
sh scripts/write-launcher.sh
ln -sf "$here/.venv/bin/pyrun" /usr/local/bin/pyrun

sh examples/make-rootfs.sh examples/hello/rootfs
echo "pyrun installed: $(/usr/local/bin/pyrun --version | head -1)"
