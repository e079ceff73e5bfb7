"""Level 00: fork and exec."""

from pyrun.lab import observe


def check(lab):
    run = lab.start("run", "--", *lab.probe('echo "lab: pid $$"'))
    pid = lab.container(run, "fork a child with os.fork() and, in the child, "
                        "os.execvp(args.command[0], args.command)")
    lab.ok("the command runs and prints")
    if pid == run.pid:
        lab.fail("the command replaced your program: it has your program's pid",
                 "fork first and exec in the child only: the parent must stay, to wait for "
                 "the command and report how it ended", run)
    if not observe.alive(run.pid):
        lab.fail("your program exited while its command still runs",
                 "wait for the child: os.waitpid(pid, 0) returns when it ends", run)
    lab.ok(f"it runs as a child process (pid {pid}) while your program (pid {run.pid}) "
           f"waits")
    lab.finish(run, pid)

    run = lab.start("run", "--", "/bin/sh", "-c", "exit 7", name="status")
    code = run.wait(10)
    if code != 7:
        lab.fail(f"the command exited with status 7, your program with {code}",
                 "return os.waitstatus_to_exitcode(status) from run(): main() passes it to "
                 "sys.exit()", run)
    lab.ok("the command's exit status (7) is your program's")
    run = lab.start("run", "--", "/nonexistent/command", name="missing")
    code = run.wait(10)
    if code != 127:
        lab.fail(f"for a command that does not exist your program exited {code}",
                 "execvp raises OSError (ENOENT) in the child: print why and leave with "
                 "os._exit(127), as a shell does; a plain `return` would run the parent's "
                 "code a second time in the child", run)
    lab.ok("a command that does not exist gives 127, as in a shell")
