"""Level 08, a typical wrong attempt: eth0 configured, but lo left down, as a new network
namespace has it: nothing inside can reach 127.0.0.1."""

import runpy
from pathlib import Path

from pyrun.linux import network

network.loopback_up = lambda *args: None  # the mistake

labs = Path(__file__).resolve().parents[3] / "examples" / "labs"
runpy.run_path(str(labs / "08-veth-network" / "solution.py"), run_name="__main__")
