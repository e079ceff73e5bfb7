"""Compiled seccomp programs kept between runs, so that libseccomp generates a profile's BPF
once, not at every create and exec: engines send the same profile every time, and
generating Docker's default (three architectures) costs ~13 ms, building it ~5 ms.

A program is kept under the SHA-256 of the profile's fingerprint (pyrun.linux.seccomp),
libseccomp's version, the kernel's release and machine, and pyrun's own: anything that
may change the BPF changes the key. Only a profile that compiled is ever kept, so a hit
needs no checks of the profile again. The directory is root's alone (0700, refused
otherwise), on /run (tmpfs: gone at reboot, as the kernel may be another then); each file
carries the SHA-256 of its program, and one that does not match, or cannot be read,
counts as a miss and is written again. Writing is best effort: a full or read-only /run
costs only time.

    PYRUN_SECCOMP_CACHE=DIR   keep programs in DIR instead of /run/pyrun-seccomp
    PYRUN_SECCOMP_CACHE=off   keep nothing
"""

import os

from pyrun import __version__

try:  # the C module alone: hashlib loads OpenSSL first (~3 ms on every create)
    from _sha256 import sha256
except ImportError:  # Python 3.12 and later
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

DEFAULT_DIR = "/run/pyrun-seccomp"
MAGIC = b"pyrun-seccomp-program 1\n"
HEADER_SIZE = 4 + 1 + 32  # flags (little-endian), uses_notify, SHA-256 of the BPF
MAX_KEPT = 256  # programs; the oldest go first beyond that


def directory() -> str | None:
    """Where programs are kept; None when the cache is off."""
    value = os.environ.get("PYRUN_SECCOMP_CACHE", DEFAULT_DIR)
    return None if value == "off" else value


def key(seccomp, profile) -> str:
    """The file name for `profile` (`seccomp`: the pyrun.linux.seccomp module): also the
    libseccomp, kernel and machine it is for, and which pyrun made it (its version, and
    the modules that compile and load, whose semantics a checkout may change without a
    new version)."""
    uname = os.uname()
    code = [os.stat(module.__file__) for module in (seccomp, seccomp.program)]
    digest = sha256(MAGIC)
    for part in (__version__, seccomp.version(), uname.release, uname.machine,
                 *(f"{st.st_size}:{st.st_mtime_ns}" for st in code)):
        part = part.encode()
        digest.update(len(part).to_bytes(8, "little") + part)
    fingerprint = seccomp.fingerprint(profile)
    digest.update(len(fingerprint).to_bytes(8, "little") + fingerprint)
    return digest.hexdigest()


def load(seccomp, profile):
    """The kept Program for `profile`, or None."""
    where = directory()
    if where is None or not _is_ours(where):
        return None
    path = os.path.join(where, key(seccomp, profile))
    try:
        with open(path, "rb") as f:
            data = f.read()
        os.utime(path)  # recently used: the last to be pruned
    except OSError:
        return None
    return _decode(seccomp, data)


def keep(seccomp, profile, program) -> None:
    """Keep `program` for `profile`, atomically (rename); errors are ignored."""
    where = directory()
    if where is None:
        return
    try:
        os.makedirs(where, mode=0o700, exist_ok=True)
        if not _is_ours(where):
            return
        path = os.path.join(where, key(seccomp, profile))
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "wb") as f:
            f.write(_encode(program))
        os.rename(temporary, path)
        _prune(where)
    except OSError:
        pass


def _is_ours(where: str) -> bool:
    """Root's directory, written by no one else: what is loaded from it becomes a filter."""
    try:
        st = os.stat(where)
    except OSError:
        return False
    return st.st_uid == os.geteuid() and st.st_mode & 0o077 == 0


def _encode(program) -> bytes:
    return (MAGIC + program.flags.to_bytes(4, "little") + bytes([program.uses_notify])
            + sha256(program.bpf).digest() + program.bpf)


def _decode(seccomp, data: bytes):
    head = len(MAGIC) + HEADER_SIZE
    if len(data) <= head or not data.startswith(MAGIC):
        return None
    header = data[len(MAGIC):head]
    flags, uses_notify, digest = int.from_bytes(header[:4], "little"), header[4], header[5:]
    bpf = data[head:]
    if uses_notify > 1 or sha256(bpf).digest() != digest:
        return None
    return seccomp.Program(bpf, flags, bool(uses_notify))


def _prune(where: str) -> None:
    """Keep at most MAX_KEPT programs: a fuzzer or a busy host must not fill /run."""
    entries = []
    for name in os.listdir(where):
        try:
            entries.append((os.stat(os.path.join(where, name)).st_mtime, name))
        except OSError:
            continue
    for _, name in sorted(entries)[:max(0, len(entries) - MAX_KEPT)]:
        try:
            os.unlink(os.path.join(where, name))
        except OSError:
            pass
