"""The teaching labs (examples/labs/): a ladder of levels where a student rebuilds a container
runtime one kernel feature at a time with pyrun's own `pyrun.linux.*` modules, and one
checker per level (`pyrun-lab check NN`) that runs the student's program and looks at the
result from outside, as pyrun's integration tests do.

    cli        pyrun-lab list | start NN | check NN [PROGRAM...] | rootfs DIR
    levels     the ladder: number, directory, title, time, needs
    needs      what a level needs from the machine; the cgroup v2 VM for level 05
    harness    run the student's program, find its container, report, clean up
    box        the throwaway namespaces the student's program runs in (its "host")
    observe    /proc readers: namespaces, status, mountinfo, cgroup, the process tree
    rootfs     a busybox root filesystem
    checks/    one module per level: lNN.check(lab)

This package is the top layer: nothing in pyrun imports it.
"""
