"""Level 00, a typical wrong attempt: the exit code of a killed command passed on as -9."""

import os
import sys

command = sys.argv[sys.argv.index("--") + 1:]
pid = os.fork()
if pid == 0:
    os.execvp(command[0], command)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
