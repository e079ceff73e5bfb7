#!/bin/sh
# Writes .venv/bin/pyrun: the venv's interpreter run with -I -S, and the two paths pyrun
# needs put on sys.path by hand.
#
# Why not pip's console script: `site` (.pth files, setuptools' distutils hook) costs ~3 ms
# a call, a tenth of a `pyrun run`; and -I keeps PYTHON* variables and the caller's
# directory out of a program that runs as root.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
python="$here/.venv/bin/python3"
site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
platsite=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
cat > "$here/.venv/bin/pyrun" <<LAUNCHER
#!$python -IS
import sys
sys.path[:0] = ["$here/src", "$site", "$platsite"]
from pyrun.cli import main
sys.exit(main())
LAUNCHER
chmod 755 "$here/.venv/bin/pyrun"
# Python reads but (with PYTHONDONTWRITEBYTECODE, set on some machines) never writes
# bytecode: compile it once here, or every call recompiles pyrun (~15 ms).
"$python" -m compileall -q "$here/src/pyrun" >/dev/null
