"""cffi build script for pyrun._shim (API mode, compiled at install time).

The C lives in shim.c/shim.h beside this file; this script only reads them.
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

ffibuilder = FFI()
ffibuilder.cdef((HERE / "shim.h").read_text())
ffibuilder.set_source(
    "pyrun._shim",
    '#include "shim.h"',
    # Relative paths: setuptools runs this from the project root and rejects
    # absolute source paths in wheels.
    sources=["csrc/shim.c"],
    include_dirs=["csrc"],
    extra_compile_args=["-O2", "-Wall", "-Werror"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
