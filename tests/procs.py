"""Finding processes from outside, for tests of both kinds."""

import os


def live_processes_with(word: str) -> list[int]:
    """Pids whose command line holds `word` (a zombie's command line is empty)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if word.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found
