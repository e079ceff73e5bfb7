"""Benchmark `RUNTIME run` of /bin/true on a busybox bundle: pyrun against runc and crun.

Method
  * One bundle for every runtime: a busybox rootfs from examples/make-rootfs.sh and runc's
    default `runc spec` config, with process.args = ["/bin/true"] and terminal = false.
  * Each runtime gets its own --root in a temp dir; every run uses a fresh container id:
    `RUNTIME --root R run -b BUNDLE ID`, stdin from /dev/null, stdout and stderr captured.
    A run is timed with time.perf_counter() around subprocess.run (fork + exec + wait), so the
    figure is what a caller sees, including interpreter start-up for pyrun.
  * Warm-up runs first, then N timed rounds. Each round runs every subject once, round-robin,
    with the starting subject rotated each round, so machine noise and any after-effects of the
    previous container (cgroup teardown, page cache) fall on all subjects alike.
  * A non-zero exit or any stderr output is a failed run; failures are counted and the first
    one's stderr is printed. A subject that fails all its warm-up runs is dropped and reported as
    failed, not timed. The exit status is non-zero if pyrun failed any run.
  * Context rows: `/bin/true` exec'ed directly (the subprocess floor), and with --python-floor the
    venv's `python -c pass` and `python -c "import json"`.

Caveats
  * On a hybrid cgroup host crun refuses to run unless hugetlb is bound to a v1 hierarchy, so it
    runs inside `unshare -m bash -c 'mount -t cgroup -o hugetlb none MNT; time crun "$@"'` (the
    binding ends with that mount namespace; MNT is in our temp dir rather than /tmp/h, so nothing
    is left behind). "crun raw" is that whole command timed from outside; "crun" is crun alone,
    timed by bash's `time` (fork + exec + wait, ms resolution) inside the namespace, and the
    wrapper overhead is raw minus inner, paired per run. Timing the wrapper separately (exec'ing
    /bin/true) and subtracting does not work: measured here, the mount costs 6 to 50 ms depending
    on how long ago the previous wrapper's namespace (and its hugetlb hierarchy) went away, so the
    figure depends on which subject ran just before (it came out above crun raw). On a pure cgroup
    v2 host crun runs unwrapped and only one crun row is shown.
  * Medians on a 2-core VM still move by a few ms between invocations; compare ratios from the
    same invocation, not absolute figures across invocations.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNTIMES = ("pyrun", "runc", "crun")
RUN_TIMEOUT_S = 30
# $0 is the mount point; `time` reports crun's wall time alone, in seconds, as stdout's last line.
CRUN_HYBRID_WRAPPER = ('mount -t cgroup -o hugetlb none "$0" || exit 125; '
                       'TIMEFORMAT=%3R; { time "$@" 2>&3; } 3>&2 2>&1')


@dataclass
class Subject:
    """Something timed each round: a runtime (argv prefix + state root) or a fixed command."""

    name: str
    argv: list
    root: Path | None = None  # set for runtimes: each run is `argv --root ROOT run -b BUNDLE ID`
    timed_inside: bool = False  # argv prints the inner command's own time last on stdout
    samples_ms: list = field(default_factory=list)
    inner_ms: list = field(default_factory=list)
    failures: int = 0
    first_error: str | None = None
    run_ids: list = field(default_factory=list)
    dropped: bool = False

    @property
    def is_runtime(self):
        return self.root is not None

    @property
    def failed(self):
        return self.dropped or (self.failures > 0 and not self.samples_ms)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyrun", default=str(REPO / ".venv/bin/pyrun"), help="pyrun to time")
    parser.add_argument("--runs", type=int, default=50, help="timed runs each (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up runs each (default 5)")
    parser.add_argument("--only", default=",".join(RUNTIMES), help="comma-separated runtimes")
    parser.add_argument("--json", metavar="FILE", help="write the raw figures to FILE")
    parser.add_argument("--seccomp", metavar="FILE",
                        help="put this seccomp profile (Docker's and podman's format, e.g. "
                             "/usr/share/containers/seccomp.json) in the bundle")
    parser.add_argument("--python-floor", action="store_true",
                        help="also time the venv's `python -c pass` and `python -c 'import json'`")
    args = parser.parse_args()
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(RUNTIMES)
    if unknown or not args.only:
        parser.error(f"--only takes a subset of {','.join(RUNTIMES)}, got {sorted(unknown)}")
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be >= 1 and --warmup >= 0")
    return args


def is_pure_cgroup2():
    return Path("/sys/fs/cgroup/cgroup.controllers").exists()


def build_bundle(bundle, seccomp=None):
    """Busybox rootfs + runc's default spec running /bin/true without a terminal (and
    the seccomp profile given, as Docker and podman turn it into linux.seccomp)."""
    bundle.mkdir()
    make_rootfs = REPO / "examples/make-rootfs.sh"
    subprocess.run(["sh", str(make_rootfs), str(bundle / "rootfs")], check=True)
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["args"] = ["/bin/true"]
    config["process"]["terminal"] = False
    if seccomp:
        sys.path.insert(0, str(REPO))
        from tests.seccomp_profiles import engine_profile, to_oci

        caps = config["process"]["capabilities"]["bounding"]
        config["linux"]["seccomp"] = to_oci(engine_profile(Path(seccomp), caps))
    config_path.write_text(json.dumps(config, indent=2))


def crun_wrapper(mountpoint):
    """argv prefix running and timing crun with hugetlb bound to v1 in a private mount ns."""
    return ["unshare", "-m", "bash", "-c", CRUN_HYBRID_WRAPPER, str(mountpoint), "crun"]


def make_subjects(args, workdir):
    subjects = []
    wrap_crun = "crun" in args.only and not is_pure_cgroup2()
    mountpoint = workdir / "hugetlb"
    for name in args.only:
        argv, timed_inside = [name], False
        if name == "pyrun":
            argv = [args.pyrun]
        elif name == "crun" and wrap_crun:
            mountpoint.mkdir(exist_ok=True)
            argv, timed_inside = crun_wrapper(mountpoint), True
        root = workdir / "roots" / name
        root.mkdir(parents=True)
        subjects.append(Subject(name, argv, root, timed_inside))
    subjects.append(Subject("/bin/true", ["/bin/true"]))
    if args.python_floor:
        python = REPO / ".venv/bin/python"
        python = str(python) if python.exists() else sys.executable
        subjects.append(Subject("python -c pass", [python, "-c", "pass"]))
        subjects.append(Subject("python import json", [python, "-c", "import json"]))
    return subjects


def run_once(subject, bundle, record):
    """Run SUBJECT once; append its time in ms if RECORD and it succeeded. Returns success."""
    argv = subject.argv
    if subject.is_runtime:
        container_id = f"bench-{os.getpid()}-{subject.name}-{len(subject.run_ids)}"
        subject.run_ids.append(container_id)
        argv = argv + ["--root", str(subject.root), "run", "-b", str(bundle), container_id]
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=RUN_TIMEOUT_S)
        elapsed_ms = (time.perf_counter() - start) * 1000
        error = proc.stderr.decode(errors="replace") if proc.returncode or proc.stderr else None
        if proc.returncode and not error:
            error = f"exit status {proc.returncode}, no stderr"
        if subject.timed_inside and not error:
            inner_ms = float(proc.stdout.split()[-1]) * 1000
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    if error is not None:
        subject.failures += 1
        subject.first_error = subject.first_error or error
        return False
    if record:
        subject.samples_ms.append(elapsed_ms)
        if subject.timed_inside:
            subject.inner_ms.append(inner_ms)
    return True


def run_rounds(subjects, bundle, rounds, record):
    """ROUNDS round-robin passes over SUBJECTS, the starting subject rotating each round."""
    for round_index in range(rounds):
        active = [s for s in subjects if not s.dropped]
        if not active:
            return
        shift = round_index % len(active)
        for subject in active[shift:] + active[:shift]:
            run_once(subject, bundle, record)


def benchmark(subjects, bundle, runs, warmup):
    run_rounds(subjects, bundle, warmup, record=False)
    for subject in subjects:
        if warmup and subject.failures == warmup:
            subject.dropped = True  # failed every warm-up run: report as failed, do not time
    run_rounds(subjects, bundle, runs, record=True)


def remove_leftovers(subjects):
    """`delete -f` every container a runtime left in its state root."""
    for subject in subjects:
        if not subject.is_runtime or not subject.root.exists():
            continue
        for container_id in sorted(set(subject.run_ids) & set(os.listdir(subject.root))):
            delete = subject.argv + ["--root", str(subject.root), "delete", "-f", container_id]
            try:
                subprocess.run(delete, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=RUN_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired):
                pass
            if (subject.root / container_id).exists():
                print(f"warning: {subject.name} container {container_id} could not be deleted",
                      file=sys.stderr)


def summarize(samples):
    if not samples:
        return None
    ordered = sorted(samples)
    if len(ordered) > 1:
        deciles = statistics.quantiles(ordered, n=10, method="inclusive")
    else:
        deciles = ordered * 9
    return {"median": statistics.median(ordered), "p10": deciles[0], "p90": deciles[-1],
            "min": ordered[0], "mean": statistics.fmean(ordered)}


def table_rows(subjects):
    """(label, samples, subject) per table row; a wrapped subject shows its inner and raw times."""
    rows = []
    for s in subjects:
        if s.timed_inside:
            rows.append((s.name, s.inner_ms, s))
            rows.append((f"{s.name} raw (wrapped)", s.samples_ms, s))
        else:
            rows.append((s.name, s.samples_ms, s))
    return rows


def wrapper_overhead(subject):
    """Per-run wrapper cost, raw minus inner, for a wrapped subject."""
    return [raw - inner for raw, inner in zip(subject.samples_ms, subject.inner_ms, strict=True)]


def median_of(subject):
    """The median compared across runtimes: of the inner time when wrapped; None if none."""
    if subject is None:
        return None
    samples = subject.inner_ms if subject.timed_inside else subject.samples_ms
    return statistics.median(samples) if samples else None


def report(subjects):
    by_name = {s.name: s for s in subjects}
    runc_median = median_of(by_name.get("runc"))

    print(f"\n{'subject':<20}{'runs':>6}{'fail':>6}{'median':>9}{'p10':>8}{'p90':>8}"
          f"{'min':>8}{'mean':>8}{'/runc':>8}   (times in ms)")
    for name, samples, subject in table_rows(subjects):
        fails = subject.failures
        stats = summarize(samples)
        if subject.failed or not stats:
            print(f"{name:<20}{len(samples):>6}{fails:>6}   FAILED")
            continue
        ratio = f"{stats['median'] / runc_median:.2f}" if runc_median else "-"
        print(f"{name:<20}{len(samples):>6}{fails:>6}{stats['median']:>9.1f}{stats['p10']:>8.1f}"
              f"{stats['p90']:>8.1f}{stats['min']:>8.1f}{stats['mean']:>8.1f}{ratio:>8}")
    overhead = None
    for subject in subjects:
        if subject.timed_inside and subject.samples_ms:
            overhead = summarize(wrapper_overhead(subject))
            print(f"\n{subject.name} wrapper overhead (unshare+bash+mount; raw minus inner, "
                  f"per run): median {overhead['median']:.1f} ms, p10 {overhead['p10']:.1f}, "
                  f"p90 {overhead['p90']:.1f}")
    for subject in subjects:
        if subject.first_error:
            print(f"\n{subject.name}: {subject.failures} failed run(s); first stderr:\n"
                  f"{subject.first_error.rstrip()}")
    pyrun_median = median_of(by_name.get("pyrun"))
    if pyrun_median and runc_median:
        print(f"\npyrun/runc median ratio: {pyrun_median / runc_median:.2f}")
    return overhead


def write_json(path, args, subjects, overhead):
    figures = {
        "runs": args.runs, "warmup": args.warmup, "pure_cgroup2": is_pure_cgroup2(),
        "crun_wrapper_overhead_ms": overhead,
        "subjects": {s.name: {"argv": s.argv, "samples_ms": s.samples_ms, "inner_ms": s.inner_ms,
                              "failures": s.failures, "failed": s.failed,
                              "first_error": s.first_error, "summary": summarize(s.samples_ms),
                              "inner_summary": summarize(s.inner_ms)} for s in subjects},
    }
    Path(path).write_text(json.dumps(figures, indent=2) + "\n")


def main():
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pyrun-bench-"))
    subjects = []
    try:
        bundle = workdir / "bundle"
        build_bundle(bundle, args.seccomp)
        subjects = make_subjects(args, workdir)
        print(f"{args.warmup} warm-up + {args.runs} timed runs each: "
              + ", ".join(s.name for s in subjects), flush=True)
        benchmark(subjects, bundle, args.runs, args.warmup)
        overhead = report(subjects)
        if args.json:
            write_json(args.json, args, subjects, overhead)
    finally:
        remove_leftovers(subjects)
        shutil.rmtree(workdir, ignore_errors=True)
    pyrun = next((s for s in subjects if s.name == "pyrun"), None)
    measured = [s for s in subjects if s.is_runtime and not s.failed]
    return 1 if (pyrun and pyrun.failures) or not measured else 0


if __name__ == "__main__":
    sys.exit(main())
