"""Named points in pyrun's work where a test can stop it, to kill it there with SIGKILL
and check that `delete --force` still finds and removes everything it made
(tests/integration/test_kill9.py). `PYRUN_FAILPOINT=<name>` makes pyrun stop itself
(SIGSTOP) on reaching that point; unset, a point costs one comparison.
"""

import os

_WANTED = os.environ.get("PYRUN_FAILPOINT")


def reached(name: str) -> None:
    if name == _WANTED:
        import _signal

        os.kill(os.getpid(), _signal.SIGSTOP)
