#!/bin/sh
# What the test suite and `make bench` need beyond pyrun itself, as root. `make test` runs
# it first, so the README's test command works on a machine set up by scripts/install.sh
# alone. Quick when everything is there (apt is asked only for what is missing).
#
# What each package is for:
#   runc crun                    the runtimes `make bench` and the tests compare against
#   docker.io podman containerd  the engines `make engines` runs with pyrun as their runtime
#                                (tests/engines starts its own private daemons; on a machine
#                                with systemd, installing docker.io also starts its service)
#   qemu and Debian's kernel     the cgroup v2 VM of `make vm-test` (vm/install-deps.sh)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps.sh: run me as root (sudo $0)" >&2
    exit 1
fi

packages="runc crun docker.io podman containerd"
missing=
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # $missing unquoted on purpose: a list of package names
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
vm/install-deps.sh
