"""The runtime sensor's cost: how much a syscall-heavy workload slows down under `yamori sensor`.

Run as root with `make bench-sensor` (or `.venv/bin/python bench/sensor.py [--repeat N]`).

The workload (a fresh Python process): 200,000 `open`+`close` of one file, then 500 short-lived
`/bin/true` processes (posix_spawn + waitpid); its own clock times the loop (interpreter start-up
excluded). Measured, each `--repeat` times, median reported:

a. alone;
b. the floor: the very tracepoints the sensor attaches for Falco's stable rules (every
   `sys_enter_X`/`sys_exit_X` pair it uses plus `sched_process_exec/fork/exit`), attached by
   bpftrace with a predicate that never matches and no output (as in /work/shared/notes/ebpf.md);
c. `yamori sensor --rules falco_rules.yaml --format json --output /dev/null` running.

For (c): events the sensor ran through the rules, events/s over the workload's wall time, drops
(user-space queue full), lost (kernel perf buffer full), and the peak RSS of the sensor process
and of its bpftrace. Then (d), in process: the sensor's data structures filled to their bounds
(process table at 32,768 entries, capture ring buffers at 64 containers x 2,000 events) and the
RSS that costs. `bench/RESULTS_sensor.md` is rewritten.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sbom_vs_trivy import ROOT, YAMORI, cpu_model, git_commit, memory_gib

RULES = ROOT.parent / "shared" / "corpora" / "falco-rules" / "falco_rules.yaml"
RESULTS = ROOT / "bench" / "RESULTS_sensor.md"

WORKLOAD = """
import os, sys, time
path = sys.argv[1]
t0 = time.perf_counter()
for _ in range(200_000):
    os.close(os.open(path, os.O_RDONLY))
t1 = time.perf_counter()
for _ in range(500):
    pid = os.posix_spawn("/bin/true", ["true"], {})
    os.waitpid(pid, 0)
t2 = time.perf_counter()
print(f"{t2 - t0:.6f} {t1 - t0:.6f} {t2 - t1:.6f}")
"""


def run_workload(path: Path) -> tuple[float, float, float]:
    out = subprocess.run(
        [sys.executable, "-c", WORKLOAD, str(path)], capture_output=True, text=True, check=True
    )
    total, opens, procs = (float(x) for x in out.stdout.split())
    return total, opens, procs


CONTAINER_CONF = '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n'


class ContainerWorkload:
    """The same workload in a podman container (the debian-app test image, which has python3).

    Uses the image archive `make test` caches under ~/.cache/yamori-test/images and a private
    podman storage, like the tests; None when the archive or podman is missing."""

    def __init__(self, root: Path) -> None:
        archives = sorted((Path.home() / ".cache" / "yamori-test" / "images").glob("*.docker.tar"))
        if not archives or not shutil.which("podman"):
            raise FileNotFoundError("no cached test image (run `make test` once) or no podman")
        root.mkdir(parents=True, exist_ok=True)
        (root / "containers.conf").write_text(CONTAINER_CONF)
        (root / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{root}/storage"\nrunroot = "{root}/run"\n'
        )
        self.env = dict(
            os.environ,
            CONTAINERS_CONF=str(root / "containers.conf"),
            CONTAINERS_STORAGE_CONF=str(root / "storage.conf"),
        )
        out = subprocess.run(
            ["podman", "load", "-q", "-i", str(archives[-1])], env=self.env, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        self.image = out.stdout.strip().rsplit(" ", 1)[-1]
        self.root = root

    def __call__(self, _path: Path) -> tuple[float, float, float]:
        code = "open('/tmp/file', 'w').write('x')\n" + WORKLOAD
        out = subprocess.run(
            ["podman", "run", "--rm", "--network", "none", self.image, "python3", "-c", code, "/tmp/file"],
            env=self.env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        total, opens, procs = (float(x) for x in out.stdout.split()[-3:])
        return total, opens, procs

    def close(self) -> None:
        subprocess.run(["podman", "rmi", "-a", "-f"], env=self.env, capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def sensor_syscalls() -> list[str]:
    """The syscalls `yamori sensor --rules falco_rules.yaml` attaches (same derivation)."""
    sys.path.insert(0, str(ROOT / "src"))
    from yamori.cli.sensor import TRACEFS, default_rules_files
    from yamori.detect.compiler import compile_ruleset
    from yamori.detect.rules import load_rules_files
    from yamori.detect.sources import field_classes
    from yamori.sensor.bpftrace import available_syscalls, generate_program
    from yamori.sensor.drift import WRITE_TYPES
    from yamori.sensor.runner import rule_evttypes

    compiled = compile_ruleset(
        load_rules_files([*default_rules_files(), str(RULES)]), field_classes(["syscall"])
    )
    types, _ = rule_evttypes(compiled)
    available = available_syscalls(TRACEFS)
    extra = {t for t in WRITE_TYPES if available is None or t in available}
    _, attached, _ = generate_program(types | extra, os.getpid(), available=available)
    return attached


def floor_program(syscalls: list[str]) -> str:
    from yamori.sensor.bpftrace import tracepoint_name

    never = "/pid == 0x7fffffff/ { @n = 1; }"
    probes = []
    for name in syscalls:
        tp = tracepoint_name(name)
        probes.append(f"tracepoint:syscalls:sys_enter_{tp} {never}")
        probes.append(f"tracepoint:syscalls:sys_exit_{tp} {never}")
    for name in ("execve", "execveat"):
        probes.append(f"tracepoint:syscalls:sys_enter_{name} {never}")
        probes.append(f"tracepoint:syscalls:sys_exit_{name} {never}")
    for name in ("exec", "fork", "exit"):
        probes.append(f"tracepoint:sched:sched_process_{name} {never}")
    return "\n".join(probes) + "\nEND { clear(@n); }\n"


def _wait_line(proc: subprocess.Popen[str], pattern: str, lines: list[str], timeout: float = 60) -> None:
    assert proc.stderr is not None or proc.stdout is not None
    stream = proc.stderr if proc.stderr is not None else proc.stdout
    assert stream is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            raise RuntimeError("process ended before it was ready:\n" + "\n".join(lines))
        lines.append(line.rstrip())
        if pattern in line:
            return
    raise RuntimeError(f"no {pattern!r} within {timeout}s")


def _status_kib(pid: int, key: str = "VmHWM") -> int:
    """A memory figure of ``/proc/PID/status`` in KiB (peak ``VmHWM``, current ``VmRSS``); 0 when gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _comms() -> list[str]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                out.append((d / "comm").read_text().strip())
    return out


def with_floor(program: str, path: Path) -> tuple[float, float, float]:
    proc = subprocess.Popen(
        ["bpftrace", "-f", "json", "-e", program],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    try:
        _wait_line(proc, "attached_probes", lines)
        return run_workload(path)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)  # detaching ~50 tracepoints takes tens of seconds here


def with_sensor(
    path: Path,
    data_dir: Path,
    *extra: str,
    workload: Callable[[Path], tuple[float, float, float]] = run_workload,
) -> dict[str, float]:
    env = dict(os.environ, YAMORI_DATA_DIR=str(data_dir))
    proc = subprocess.Popen(
        [str(YAMORI), "sensor", "--rules", str(RULES), "--format", "json", "--output", "/dev/null", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[str] = []
    try:
        _wait_line(proc, "yamori sensor: ready", lines)
        total, opens, procs = workload(path)
        time.sleep(3.0)  # let the sensor drain what is queued before it is stopped
        rss = _status_kib(proc.pid)
        bpf = max((_status_kib(c) for c in _children(proc.pid)), default=0)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.stderr is not None
        _, rest = proc.communicate(timeout=300)
        deadline = time.monotonic() + 300  # the sensor's bpftrace may still be detaching
        while any(p.endswith("bpftrace") for p in _comms()) and time.monotonic() < deadline:
            time.sleep(1)
        lines += rest.splitlines()
    text = "\n".join(lines)
    m = re.search(
        r"events=(\d+) \((\d+)/s\) alerts=(\d+) dropped=(\d+) skipped=(\d+) unprocessed=(\d+) lost=(\d+)",
        text,
    )
    if m is None:
        raise RuntimeError("no summary line from the sensor:\n" + text)
    events, _, alerts, dropped, skipped, unprocessed, lost = (int(g) for g in m.groups())
    k = re.search(r"kernel_filtered=(\d+) kernel_coalesced=(\d+)", text)
    kfiltered, kcoalesced = (int(g) for g in k.groups()) if k else (0, 0)
    return {
        "total": total, "opens": opens, "procs": procs, "events": events, "alerts": alerts,
        "dropped": dropped, "skipped": skipped, "unprocessed": unprocessed, "lost": lost,
        "rss_mib": rss / 1024, "bpftrace_rss_mib": bpf / 1024,
        "kfiltered": kfiltered, "kcoalesced": kcoalesced,
    }  # fmt: skip


def bounded_structures_rss() -> dict[str, float]:
    """RSS of the sensor's tables at their bounds, measured in a fresh child process."""
    code = r"""
import resource, sys
sys.path.insert(0, sys.argv[1])
from yamori.sensor.captures import CaptureRecorder, event_doc
from yamori.sensor.interface import ProcessInfo, RawRecord, RecordKind
from yamori.sensor.proctable import ProcessTable
from yamori.sensor.drift import DriftGuard
from yamori.sensor.containers import ContainerResolver
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
table = ProcessTable()
for pid in range(1, 40_000):  # more than the bound: the table evicts
    table._put(ProcessInfo(pid=pid, ppid=1, comm="worker", exe="/usr/bin/worker",
        exepath="/usr/bin/worker", args=["--flag", "value", str(pid)], cwd="/srv/app",
        uid=1000, gid=1000, container_id="ab" * 32))
rec = CaptureRecorder("/nonexistent")
for c in range(100):  # more containers than the bound
    cid = f"{c:064x}"
    proc = ProcessInfo(pid=7, ppid=1, comm="python3", cwd="/app")
    for n in range(2_500):
        r = RawRecord(RecordKind.SYSCALL, n, 7, 7, "openat", res=3,
            args={"dirfd": -100, "name": f"/usr/lib/python3/mod{n}.py", "flags": 0o2000000, "mode": 0})
        rec.add(cid, 10**18 + n, event_doc(r, proc, 10**18 + n, r.args["name"]))
guard = DriftGuard(ContainerResolver(sockets=[], podman=None))
for c in range(1024):
    for n in range(64):
        guard.note_written(f"{c:064x}", f"/tmp/file-{n}")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(table), rec.stats.buffered, before, after)
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "src")], capture_output=True, text=True, check=True
    )
    entries, buffered, before, after = (int(x) for x in out.stdout.split())
    return {"processes": entries, "buffered": buffered, "base_mib": before / 1024, "full_mib": after / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/sensor.py needs root (bpftrace)")
    if not RULES.exists():
        sys.exit(f"{RULES} is missing")
    tracefs = Path("/sys/kernel/tracing")
    if not (tracefs / "events").is_dir():
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(tracefs)], check=False)

    syscalls = sensor_syscalls()
    program = floor_program(syscalls)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "file"
        target.write_text("x")
        run_workload(target)  # warm the page cache and the interpreter
        alone, floor, sensor, unfiltered = [], [], [], []
        c_alone: list[tuple[float, float, float]] = []
        c_sensor: list[dict[str, float]] = []
        try:
            container: ContainerWorkload | None = ContainerWorkload(Path(tmp) / "podman")
        except (OSError, RuntimeError) as exc:
            print(f"no container runs: {exc}", flush=True)
            container = None
        settle = 5.0  # between runs: the kernel finishes detaching, podman its clean-up
        for i in range(args.repeat):
            alone.append(run_workload(target))
            floor.append(with_floor(program, target))
            time.sleep(settle)
            sensor.append(with_sensor(target, Path(tmp) / f"data{i}"))
            time.sleep(settle)
            unfiltered.append(with_sensor(target, Path(tmp) / f"data-u{i}", "--no-kernel-filter"))
            time.sleep(settle)
            times = (
                f"alone {alone[-1][0]:.2f}s floor {floor[-1][0]:.2f}s sensor {sensor[-1]['total']:.2f}s "
                f"unfiltered {unfiltered[-1]['total']:.2f}s"
            )
            if container is not None:
                c_alone.append(container(target))
                time.sleep(settle)
                c_sensor.append(with_sensor(target, Path(tmp) / f"data-c{i}", workload=container))
                time.sleep(settle)
                times += f" container alone {c_alone[-1][0]:.2f}s with sensor {c_sensor[-1]['total']:.2f}s"
            print(f"run {i + 1}: {times}", flush=True)
        if container is not None:
            container.close()
    bounded = bounded_structures_rss()

    def med(values: list[float]) -> float:
        return statistics.median(values)

    a = med([x[0] for x in alone])
    f = med([x[0] for x in floor])
    s = med([x["total"] for x in sensor])
    a_open, f_open, s_open = (
        med([x[1] for x in alone]),
        med([x[1] for x in floor]),
        med([x["opens"] for x in sensor]),
    )
    a_proc, f_proc, s_proc = (
        med([x[2] for x in alone]),
        med([x[2] for x in floor]),
        med([x["procs"] for x in sensor]),
    )
    ev = med([x["events"] for x in sensor])
    rate = med([x["events"] / x["total"] for x in sensor])
    dropped = max(x["dropped"] for x in sensor)
    lost = max(x["lost"] for x in sensor)
    unprocessed = max(x["unprocessed"] for x in sensor)
    rss = max(x["rss_mib"] for x in sensor)
    bpf_rss = max(x["bpftrace_rss_mib"] for x in sensor)
    slow = s / a - 1
    verdict_slow = "met" if slow < 0.10 or s <= 1.5 * f else "NOT met"
    u = med([x["total"] for x in unfiltered])
    u_open = med([x["opens"] for x in unfiltered])
    kf = med([x["kfiltered"] for x in sensor])
    u_lost = max(x["lost"] for x in unfiltered)
    container_rows: list[str] = []
    container_notes: list[str] = []
    if c_sensor:
        ca, cs = med([x[0] for x in c_alone]), med([x["total"] for x in c_sensor])
        ca_open, cs_open = med([x[1] for x in c_alone]), med([x["opens"] for x in c_sensor])
        ca_proc, cs_proc = med([x[2] for x in c_alone]), med([x["procs"] for x in c_sensor])
        container_rows = [
            f"| in a container, alone | {ca:.2f} | {ca_open:.2f} | {ca_proc:.2f} | - |",
            f"| in a container, yamori sensor | {cs:.2f} | {cs_open:.2f} | {cs_proc:.2f} "
            f"| {cs / ca - 1:+.0%} |",
        ]
        container_notes = [
            "- In a container (podman + runc, the debian-app test image): the open loop "
            f"{cs_open / ca_open:.2f}x "
            f"alone; opens coalesced in the kernel (same thread, same path and mode within 1 s) "
            f"{med([x['kcoalesced'] for x in c_sensor]):,.0f} per run, events through the rules "
            f"{med([x['events'] for x in c_sensor]):,.0f}, lost "
            f"{max(x['lost'] for x in c_sensor):,} (worst run).",
        ]
    lines = [
        "# Runtime sensor benchmark",
        "",
        f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `bench/sensor.py` "
        f"(commit {git_commit()}), {args.repeat} runs each, medians.",
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, {memory_gib():.1f} GiB, "
        f"kernel {platform.release()}, Python {platform.python_version()}.",
        "",
        "Workload: a fresh Python process doing 200,000 `open`+`close` of one file, then 500 "
        "`/bin/true` processes (posix_spawn + waitpid); the loop's own clock.",
        f"Sensor: `yamori sensor --rules falco_rules.yaml` (+ yamori's drift rule), {len(syscalls)} syscalls "
        f"attached: {', '.join(syscalls)}, + sched exec/fork/exit. Floor: the same tracepoints, "
        "predicate never true, no output.",
        "",
        "| run | total (s) | 200k open+close (s) | 500 processes (s) | slowdown vs alone |",
        "|---|---|---|---|---|",
        f"| alone | {a:.2f} | {a_open:.2f} | {a_proc:.2f} | - |",
        f"| bare tracepoints (floor) | {f:.2f} | {f_open:.2f} | {f_proc:.2f} | {f / a - 1:+.0%} |",
        f"| yamori sensor | {s:.2f} | {s_open:.2f} | {s_proc:.2f} | {slow:+.0%} |",
        f"| yamori sensor --no-kernel-filter | {u:.2f} | {u_open:.2f} | "
        f"{med([x['procs'] for x in unfiltered]):.2f} | {u / a - 1:+.0%} |",
        *container_rows,
        "",
        f"- Sensor vs floor: {s / f:.2f}x the floor's wall time in total; on the open+close loop "
        f"(the stable part) {s_open / a_open:.2f}x alone and {s_open / f_open:.2f}x the floor; on the "
        f"500 processes {s_proc / a_proc:.2f}x alone and {s_proc / f_proc:.2f}x the floor (process "
        "start-up times are noisy on this VM: the floor can come out faster than alone).",
        f"- Kernel prefilter (derived from the rules, `sensor/prefilter.py`): {kf:,.0f} opens per run "
        "dropped in the kernel because no loaded rule can match their path; without it "
        f"(`--no-kernel-filter`) the open loop runs {u_open / a_open:.2f}x alone and the kernel loses "
        f"{u_lost:,} events (worst run).",
        *container_notes,
        f"- Events run through the rules per run: {ev:,.0f}; {rate:,.0f} events/s over the "
        "workload's wall time.",
        f"- Drops: dropped (user-space queue full) {dropped}, lost (kernel perf buffer full: the "
        f"sensor did not read fast enough; counted, never silent) {lost:,}, still queued at stop "
        f"{unprocessed} (worst run).",
        f"- Peak RSS: sensor process {rss:.0f} MiB, its bpftrace {bpf_rss:.0f} MiB.",
        f"- Data structures at their bounds (in a fresh process): process table {bounded['processes']:,} "
        f"entries + capture ring buffers {bounded['buffered']:,} events (64 containers x 2,000) + drift "
        f"tracking (1,024 containers x 64 paths): RSS {bounded['base_mib']:.0f} -> "
        f"{bounded['full_mib']:.0f} MiB.",
        "",
        f"Targets (issue 5): slowdown under 10 % or within 1.5x of the floor: **{verdict_slow}**; "
        f"sensor RSS under 256 MB: **{'met' if max(rss, bounded['full_mib']) < 256 else 'NOT met'}**.",
        "",
        "What it costs: every syscall sent to user space costs a bpftrace `printf` into a per-CPU "
        "perf buffer, a JSON line on a pipe and a Python decode + rule evaluation; the floor pays "
        "only the tracepoint entry. The prefilter keeps opens no rule can match in the kernel "
        "(host processes: dropped and counted; container processes: sent once per thread, path "
        "and mode per second, for drift, packages in use and captures). A workload that hammers "
        "paths the rules do watch (`/etc/shadow` in a loop) still pays the full user-space price "
        "and the kernel drops what the sensor cannot read in time (counted as lost).",
    ]
    args.results.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
