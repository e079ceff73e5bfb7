"""Fixtures of the unit tests: a scratch "rootfs" directory and an O_PATH fd on it."""

import os

import pytest


@pytest.fixture
def rootfs(tmp_path):
    path = tmp_path / "rootfs"
    path.mkdir()
    return path


@pytest.fixture
def rootfd(rootfs):
    fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    yield fd
    os.close(fd)
