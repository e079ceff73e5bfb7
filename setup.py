# setuptools needs this file only for cffi's build hook; all metadata is in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["csrc/build_shim.py:ffibuilder", "csrc/build_seccomp.py:ffibuilder"])
