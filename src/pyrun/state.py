"""The state directory: `<root>/<id>/` holding state.json, the container lock and exec.fifo.

state.json records what cannot be derived later (init pid and its start time, bundle, cgroup,
creation time, annotations). The status is never stored: pyrun.runtime.common derives it
from the process, so a container whose init died is "stopped" without anyone writing that
down. Storage only: nothing here looks at processes or cgroups.
"""

import fcntl
import os

from pyrun import fastjson
from pyrun.errors import PyrunError

DEFAULT_ROOT = "/run/pyrun"
STATE_FILE = "state.json"
LOCK_FILE = "lock"
FIFO_NAME = "exec.fifo"
MAX_ID_LENGTH = 1024


def validate_id(container_id: str) -> str:
    """IDs become directory and cgroup names: keep to runc's alphabet."""
    if not container_id:
        raise PyrunError("container id", "must not be empty")
    if len(container_id) > MAX_ID_LENGTH:
        raise PyrunError("container id", f"longer than {MAX_ID_LENGTH} characters")
    if container_id in (".", "..") or not all(c.isascii() and (c.isalnum() or c in "_+-.")
                                              for c in container_id):
        raise PyrunError(f'container id "{container_id}"',
                         "invalid: use letters, digits, _ + - and .")
    return container_id


class ContainerExists(PyrunError):
    """The id is taken (its state directory exists)."""


def id_from_name(name: str) -> str:
    """A container id made from a name (a bundle directory's): runc's alphabet, other
    characters replaced by '-', not starting with '.' (no "." or "..")."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "_+-.") else "-"
                      for c in name)[:MAX_ID_LENGTH - 8].lstrip(".")
    return cleaned or "container"


class Container:
    """One container's state directory. Hold `lock()` while changing it."""

    def __init__(self, root: str, container_id: str):
        self.id = container_id
        self.dir = os.path.join(root, container_id)
        self.data: dict = {}
        self._lock_fd = -1

    # --- paths
    @property
    def fifo_path(self) -> str:
        return os.path.join(self.dir, FIFO_NAME)

    @property
    def state_path(self) -> str:
        return os.path.join(self.dir, STATE_FILE)

    # --- life of the directory
    def create_dir(self) -> None:
        """Make the directory; fails if the id is taken (mkdir is the atomic claim)."""
        os.makedirs(os.path.dirname(self.dir), mode=0o711, exist_ok=True)
        try:
            os.mkdir(self.dir, 0o700)
        except FileExistsError:
            raise ContainerExists(f"container with id {self.id}", "already exists") from None

    def remove_dir(self) -> None:
        """The directory holds only flat files we made (no shutil: it costs ~5 ms to import)."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(self.dir, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass

    def lock(self) -> "Container":
        """An exclusive flock on <dir>/lock, released when the process exits or unlock()."""
        fd = os.open(os.path.join(self.dir, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd
        return self

    def unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # --- state.json
    def save(self) -> None:
        """Write state.json atomically: a reader sees the old file or the new one."""
        tmp = self.state_path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, fastjson.dumps(self.data).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self.state_path)

    def load(self) -> "Container":
        try:
            with open(self.state_path, "rb") as f:
                self.data = fastjson.loads(f.read())
        except FileNotFoundError:
            raise PyrunError(f"container {self.id}", "does not exist") from None
        except ValueError as e:
            raise PyrunError(self.state_path, f"corrupt: {e}") from None
        return self

    @property
    def pid(self) -> int:
        return self.data.get("pid", 0)

    def fifo_exists(self) -> bool:
        """The init still waits for `start` (start removes the fifo)."""
        return os.path.exists(self.fifo_path)


def open_container(root: str, container_id: str) -> Container:
    """An existing container's state (loaded, not locked)."""
    validate_id(container_id)
    return Container(root, container_id).load()


def list_ids(root: str) -> list[str]:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.isfile(os.path.join(root, n, STATE_FILE)))
