"""Level 00, a typical wrong attempt: exec without fork (nobody is left to wait)."""

import os
import sys

command = sys.argv[sys.argv.index("--") + 1:]
os.execvp(command[0], command)
