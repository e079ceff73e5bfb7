"""Level 07: user namespaces."""

from pyrun.lab import observe
from pyrun.lab.checks import common

INSIDE, OUTSIDE, COUNT = 0, 100000, 65536
KNOWN = (
    ("Value too large for defined data type",
     "EOVERFLOW: a process whose uid or gid has no mapping in its user namespace cannot "
     "create files there. After the parent wrote the maps, the child is still the host's "
     "uid 0 (unmapped): become the namespace's root with user.switch(0, 0, [])"),
    ("mknod", "in a user namespace mknod(2) fails with EPERM (a node made there would reach "
     "the host's devices): bind-mount the host's /dev/null, /dev/zero... onto empty files "
     "instead: devices.bind_node(rootfd, '/dev/null')"),
    ("uid_map", "uid_map and gid_map take one write each, by a process with privilege over "
     "the parent namespace (the parent, root on the host), after the child unshared"),
)


def check(lab):
    run = lab.start("run", "--rootfs", lab.rootfs, "--uidmap", f"{INSIDE}:{OUTSIDE}:{COUNT}",
                    "--", *lab.probe('echo "lab: id $(id -u):$(id -g)"',
                                     'echo "lab: owner $(stat -c %u:%g /bin/busybox)"'))
    pid = lab.container(run, "unshare the user namespace with the others; the parent writes "
                        "the maps while the child waits on a pipe", timeout=15, known=KNOWN)
    lab.ok("the command runs")
    if common.same_namespace(pid, lab.box.pid, "user"):
        lab.fail("the command is in the host's user namespace: root inside is root outside",
                 "namespaces.unshare(['user', ...]): the user namespace first, in the same "
                 "call as the others, so that it owns them", run)
    lab.ok("it has a user namespace of its own")
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}") as f:
            fields = f.read().split()
        if fields != [str(INSIDE), str(OUTSIDE), str(COUNT)]:
            lab.fail(f"its {name} is {' '.join(fields) or 'empty'!r}, expected "
                     f"'{INSIDE} {OUTSIDE} {COUNT}'",
                     f"the parent writes '{INSIDE} {OUTSIDE} {COUNT}' into /proc/CHILD/{name} "
                     f"once the child has unshared (it says so on a pipe) and before the "
                     f"child goes on (it waits on the other pipe)", run)
    lab.ok(f"uid_map and gid_map map 0 inside to {OUTSIDE} outside ({COUNT} ids)")
    uids = observe.status(pid)["Uid"].split()
    if uids[0] != str(OUTSIDE):
        lab.fail(f"the command runs as uid {uids[0]} on the host, not {OUTSIDE}"
                 + (": as the host's root" if uids[0] == "0" else ""),
                 "the maps do not change who the child is: it is still the host's uid 0, "
                 "which has no mapping inside (65534 there). After the parent wrote the "
                 "maps, become the namespace's root: user.switch(0, 0, []) (setgroups, "
                 "setresgid, setresuid)", run)
    facts = run.facts()
    if facts.get("id") != "0:0":
        lab.fail(f"inside, the command is uid:gid {facts.get('id')}, not 0:0",
                 "user.switch(0, 0, []) in the intermediate, after the maps", run)
    lab.ok(f"it is root (0:0) inside and uid {OUTSIDE} outside")
    if facts.get("owner") == "65534:65534":
        lab.note("inside, the rootfs's files (the host's root owns them) belong to 65534, "
                 "'nobody': host uid 0 has no mapping in the namespace. A real runtime "
                 "chowns the image to the mapped range, or mounts it id-mapped.")
    lab.finish(run, pid)
