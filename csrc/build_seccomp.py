"""cffi build script for pyrun._seccomp, the libseccomp binding (API mode, -lseccomp).

One module per C library, as pyca/cryptography does: seccomp.h beside this file is the
cdef, seccomp.c the C source; this script only reads them.
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

ffibuilder = FFI()
ffibuilder.cdef((HERE / "seccomp.h").read_text())
ffibuilder.set_source(
    "pyrun._seccomp",
    # The source text itself, not a path: csrc/ must not be on the include path, or
    # `#include <seccomp.h>` could find our cdef instead of libseccomp's header.
    (HERE / "seccomp.c").read_text(),
    libraries=["seccomp"],
    extra_compile_args=["-O2", "-Wall", "-Werror"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
