"""Kernel-facing building blocks, one module per concern.

Each module takes plain arguments (no config objects) so it can be used on its own, as the
labs in examples/ do, and takes a `syscalls`-like object where a test may want to record calls.
"""
