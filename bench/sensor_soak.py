"""Is the sensor's memory flat over time? A long run under churn, RSS sampled.

Run as root with `make bench-sensor-soak` (or `.venv/bin/python bench/sensor_soak.py --minutes N`).

`yamori sensor --rules falco_rules.yaml --capture-priority warning` runs for N minutes while a
churn workload keeps every table busy: short-lived processes with fresh argument lists (the
process table), opens of ever-new paths (the fd table, packages in use), reads of `/etc/shadow`
(alerts and captures) and, every few seconds, a podman container that does the same inside (the
container cache, capture ring buffers, drift bookkeeping) — the debian-app image `make test`
caches under ~/.cache/yamori-test/images. The RSS of the sensor and of its bpftrace is sampled
every 10 s; `bench/RESULTS_sensor_soak.md` gets the series, the first-to-last-quarter growth
and the peak.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sbom_vs_trivy import ROOT, YAMORI, cpu_model, git_commit, memory_gib

from sensor import RULES, ContainerWorkload, _children, _comms, _status_kib, _wait_line

RESULTS = ROOT / "bench" / "RESULTS_sensor_soak.md"

CHURN = r"""
import os, sys, time, subprocess
end = time.monotonic() + float(sys.argv[1])
base = sys.argv[2]
n = 0
while time.monotonic() < end:
    n += 1
    subprocess.run(["/bin/true", f"--round={n}"])
    path = f"{base}/f{n % 5000}"
    with open(path, "w") as f:
        f.write("x")
    os.close(os.open(path, os.O_RDONLY))
    if n % 50 == 0:
        os.close(os.open("/etc/shadow", os.O_RDONLY))
    time.sleep(0.002)
print(n)
"""

IN_CONTAINER = (
    "import os, subprocess\n"
    "for i in range(200):\n"
    "    p = f'/tmp/f{i}'\n"
    "    open(p, 'w').write('x')\n"
    "    subprocess.run(['/bin/true', str(i)])\n"
    "os.close(os.open('/etc/shadow', 0))\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/sensor_soak.py needs root (bpftrace)")
    seconds = args.minutes * 60
    samples: list[tuple[float, float, float]] = []
    containers = 0
    with tempfile.TemporaryDirectory() as tmp:
        try:
            container: ContainerWorkload | None = ContainerWorkload(Path(tmp) / "podman")
        except (OSError, RuntimeError) as exc:
            print(f"no containers: {exc}", flush=True)
            container = None
        env = dict(os.environ, YAMORI_DATA_DIR=str(Path(tmp) / "data"))
        proc = subprocess.Popen(
            [str(YAMORI), "sensor", "--rules", str(RULES), "--format", "json", "--output", "/dev/null",
             "--capture-priority", "warning", "--capture-seconds", "2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        lines: list[str] = []
        try:
            _wait_line(proc, "yamori sensor: ready", lines)
            churn_dir = Path(tmp) / "churn"
            churn_dir.mkdir()
            churn = subprocess.Popen(
                [sys.executable, "-c", CHURN, str(seconds), str(churn_dir)], stdout=subprocess.PIPE, text=True
            )
            stop = threading.Event()

            def run_containers() -> None:
                nonlocal containers
                while container is not None and not stop.wait(5.0):
                    subprocess.run(
                        ["podman", "run", "--rm", "--network", "none", container.image, "python3", "-c",
                         IN_CONTAINER],
                        env=container.env, capture_output=True, check=False,
                    )  # fmt: skip
                    containers += 1

            runner = threading.Thread(target=run_containers, daemon=True)
            runner.start()
            t0 = time.monotonic()
            while churn.poll() is None:
                bpf = max((_status_kib(c, "VmRSS") for c in _children(proc.pid)), default=0)
                samples.append((time.monotonic() - t0, _status_kib(proc.pid, "VmRSS") / 1024, bpf / 1024))
                t, rss, bpf_mib = samples[-1]
                print(f"{t:7.0f}s sensor {rss:6.1f} MiB bpftrace {bpf_mib:6.1f} MiB", flush=True)
                time.sleep(10.0)
            stop.set()
            runner.join(120)
            rounds = int((churn.stdout.read() if churn.stdout else "0").strip() or 0)
        finally:
            proc.send_signal(15)
            assert proc.stderr is not None
            _, rest = proc.communicate(timeout=300)
            lines += rest.splitlines()
            deadline = time.monotonic() + 300
            while any(p.endswith("bpftrace") for p in _comms()) and time.monotonic() < deadline:
                time.sleep(1)
            if container is not None:
                container.close()
    summary = next((line for line in lines if "events=" in line), "")
    quarter = max(1, len(samples) // 4)
    first = statistics.median(s[1] for s in samples[:quarter])
    last = statistics.median(s[1] for s in samples[-quarter:])
    peak = max(s[1] for s in samples)
    half = samples[len(samples) // 2 :]
    second_half = half[-1][1] - half[0][1]
    bpf_first = statistics.median(s[2] for s in samples[:quarter])
    bpf_last = statistics.median(s[2] for s in samples[-quarter:])
    out = [
        "# Runtime sensor soak",
        "",
        f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `bench/sensor_soak.py` "
        f"(commit {git_commit()}), {args.minutes:g} minutes.",
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, {memory_gib():.1f} GiB, "
        f"kernel {platform.release()}, Python {platform.python_version()}.",
        "",
        f"Churn: {rounds:,} rounds of a short-lived process with a fresh argument list, a write and a read "
        f"of one of 5,000 files, a read of `/etc/shadow` every 50 rounds (alerts, captures at priority "
        f"warning); {containers} podman containers (200 files written, 200 processes, one alert each).",
        f"Sensor summary: `{summary.strip()}`",
        "",
        f"- Sensor RSS: median of the first quarter {first:.1f} MiB, of the last quarter {last:.1f} MiB "
        f"({last - first:+.1f} MiB, the bounded tables filling), peak {peak:.1f} MiB (target < 256 MB); "
        f"over the second half, from {half[0][0]:.0f} s to the end: {second_half:+.1f} MiB (flat once full).",
        f"- bpftrace RSS: {bpf_first:.1f} -> {bpf_last:.1f} MiB.",
        "",
        "| t (s) | sensor RSS (MiB) | bpftrace RSS (MiB) |",
        "|---|---|---|",
    ]
    step = max(1, len(samples) // 30)
    out += [f"| {t:.0f} | {s:.1f} | {b:.1f} |" for t, s, b in samples[::step]]
    args.results.write_text("\n".join(out) + "\n")
    print("\n".join(out[:12]))


if __name__ == "__main__":
    main()
