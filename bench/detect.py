"""The detection engine: events per second on one core and memory, for k8s audit and CloudTrail.

Run with `make bench-detect` (or `.venv/bin/python bench/detect.py [--events N] [--repeat N]`).

What is measured (Falco is not installable on this machine, so figures are set against the
issue's targets rather than a peer's run):

1. `yamori detect --source k8s_audit --rules k8s_audit_rules.yaml --input STREAM --format json
   --output FILE`, pinned to one core with `taskset -c 0`, over a recorded stream of `--events`
   realistic audit events (bench/audit_stream.py: control-plane reads and lease renewals, writes by
   controllers and CI, ~1 % security-relevant actions). Events/s = events / (wall - start-up),
   start-up being the same command over a one-event stream. Target: 50,000/s.
2. The same for `--source aws_cloudtrail` over CloudTrail `.json.gz` log files of 1,000 records.
3. Peak RSS of run 1 with every shipped rules file loaded (the three syscall files' lists and
   macros are kept, their rules skipped for this source, as Falco does). Target: under 150 MB.
4. Flatness, in process: a stream of `--long` events generated on the fly (never held in memory)
   through the engine; RSS sampled every 10 % — growth from the first sample to the last.

Every CLI run is a fresh process under `/usr/bin/time -v`; wall time is the median of
`--repeat` runs, peak RSS the largest. `bench/RESULTS_detect.md` is rewritten.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from audit_stream import cloudtrail_records, k8s_audit_events, write_jsonl
from sbom_vs_trivy import ROOT, YAMORI, Series, cpu_model, git_commit, measure, memory_gib

RULES = ROOT.parent / "shared" / "corpora" / "falco-rules"
K8S_RULES = RULES / "k8s_audit_rules.yaml"
CT_RULES = RULES / "aws_cloudtrail_rules.yaml"
ALL_RULES = [
    RULES / "falco_rules.yaml",
    RULES / "falco-incubating_rules.yaml",
    RULES / "falco-sandbox_rules.yaml",
    K8S_RULES,
    CT_RULES,
]
RESULTS = ROOT / "bench" / "RESULTS_detect.md"
TARGET_EVENTS_PER_SECOND = 50_000
TARGET_RSS_MIB = 150


def one_core(cmd: list[str | Path]) -> list[str | Path]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", "0", *cmd] if taskset else cmd


def detect_cmd(source: str, rules: Sequence[Path], inputs: Path, out: Path) -> list[str | Path]:
    cmd: list[str | Path] = [YAMORI, "detect", "--source", source]
    for r in rules:
        cmd += ["--rules", r]
    return one_core([*cmd, "--input", inputs, "--format", "json", "--output", out])


def write_cloudtrail(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    batch: list[dict[str, object]] = []
    n = 0
    for record in cloudtrail_records(count):
        batch.append(record)
        if len(batch) == 1000:
            _write_log(directory / f"log-{n:05d}.json.gz", batch)
            batch, n = [], n + 1
    if batch:
        _write_log(directory / f"log-{n:05d}.json.gz", batch)


def _write_log(path: Path, records: list[dict[str, object]]) -> None:
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), 6))


def run_series(label: str, cmd: list[str | Path], repeat: int, out: Path | None = None) -> Series:
    """``repeat`` fresh runs; ``out`` (the alerts file, which --output appends to) is emptied
    before each, so its line count afterwards is one run's alerts."""
    series = Series(label)
    for _ in range(repeat):
        if out is not None:
            out.unlink(missing_ok=True)
        series.runs.append(measure(label, cmd))
    return series


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def flatness(total: int) -> list[tuple[int, float]]:
    """RSS every 10 % of a long k8s audit stream through the engine with every rules file loaded."""
    sys.path.insert(0, str(ROOT / "src"))
    from yamori.detect.compiler import compile_ruleset
    from yamori.detect.engine import Engine
    from yamori.detect.fields.k8s_audit import K8sAuditEvent
    from yamori.detect.inputs import loads_json
    from yamori.detect.rules import load_rules_files
    from yamori.detect.sources import field_classes

    compiled = compile_ruleset(load_rules_files(ALL_RULES), field_classes(["k8s_audit"]))
    engine = Engine(compiled)
    gc.freeze()
    samples = [(0, rss_mib())]
    step = max(1, total // 10)
    for i, doc in enumerate(k8s_audit_events(total, seed=99), 1):
        event = K8sAuditEvent(loads_json(json.dumps(doc)))  # through text, as from the wire
        for alert in engine.process(event):
            json.dumps(alert.output_fields, default=str)
        if i % step == 0:
            samples.append((i, rss_mib()))
    return samples


def run_row(label: str, series: Series, alerts: str = "") -> str:
    return f"| {label} | {series.wall:.2f} s | {series.rss_mib:.0f} MiB | {alerts} |"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events per recorded stream")
    parser.add_argument("--long", type=int, default=1_000_000, help="events for the flatness run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not RULES.is_dir():
        print(f"rules corpus not found at {RULES}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="yamori-bench-detect-") as tmp:
        work = Path(tmp)
        stream = work / "audit.jsonl"
        n_k8s = write_jsonl(k8s_audit_events(args.events), str(stream))
        tiny = work / "one.jsonl"
        write_jsonl(k8s_audit_events(1), str(tiny))
        ct_dir = work / "cloudtrail"
        write_cloudtrail(ct_dir, args.events)
        ct_tiny = work / "ct-one"
        write_cloudtrail(ct_tiny, 1)
        out = work / "alerts.jsonl"
        size = stream.stat().st_size / 2**20
        print(f"streams: {n_k8s} audit events ({size:.0f} MiB), {args.events} CloudTrail records", flush=True)

        k8s = run_series("k8s", detect_cmd("k8s_audit", [K8S_RULES], stream, out), args.repeat, out)
        k8s_alerts = count_lines(out)
        k8s_start = run_series("k8s start-up", detect_cmd("k8s_audit", [K8S_RULES], tiny, out), args.repeat)
        ct = run_series("ct", detect_cmd("aws_cloudtrail", [CT_RULES], ct_dir, out), args.repeat, out)
        ct_alerts = count_lines(out)
        ct_tiny_cmd = detect_cmd("aws_cloudtrail", [CT_RULES], ct_tiny, out)
        ct_start = run_series("ct start-up", ct_tiny_cmd, args.repeat)
        k8s_all = run_series("k8s all rules", detect_cmd("k8s_audit", ALL_RULES, stream, out), args.repeat)
        ct_all = run_series("ct all rules", detect_cmd("aws_cloudtrail", ALL_RULES, ct_dir, out), args.repeat)
        samples = flatness(args.long)

    def rate(full: Series, start: Series, n: int) -> float:
        return n / max(1e-9, full.wall - start.wall)

    k8s_rate = rate(k8s, k8s_start, n_k8s)
    ct_rate = rate(ct, ct_start, args.events)
    growth = samples[-1][1] - samples[1][1]
    peak_all = max(k8s_all.rss_mib, ct_all.rss_mib)

    def met(ok: bool) -> str:
        return "yes" if ok else "**no**"

    per_s = TARGET_EVENTS_PER_SECOND
    machine = f"{os.cpu_count()} cores ({cpu_model()}), {memory_gib():.0f} GiB RAM"
    lines = [
        "# yamori detect: throughput and memory",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- commit: `{git_commit()}`",
        f"- machine: {machine}, Python {platform.python_version()}",
        "- peer: Falco is not installable here (no package in the Debian or PyPI registries this",
        "  machine reaches); figures are set against the issue's targets",
        f"- streams: {n_k8s} k8s audit events (bench/audit_stream.py, seed 7), {args.events} CloudTrail",
        "  records in `.json.gz` files of 1,000; rules: Falco's own files from",
        "  `../shared/corpora/falco-rules/`",
        f"- each CLI figure: median wall time of {args.repeat} fresh processes pinned to one core",
        "  (`taskset -c 0`), peak RSS the largest; events/s = events / (wall - wall of the same command",
        "  on a one-event stream)",
        "",
        "## Targets",
        "",
        "| target | measured | ratio to target | met |",
        "|---|---:|---:|---|",
        f"| k8s audit events/s on one core, k8s rules (≥ 50,000) | {k8s_rate:,.0f} "
        f"| {k8s_rate / per_s:.2f}x | {met(k8s_rate >= per_s)} |",
        f"| CloudTrail events/s on one core, CloudTrail rules (≥ 50,000) | {ct_rate:,.0f} "
        f"| {ct_rate / per_s:.2f}x | {met(ct_rate >= per_s)} |",
        f"| peak RSS, all five shipped rules files loaded (< 150 MB) | {peak_all:.0f} MiB "
        f"| {peak_all / TARGET_RSS_MIB:.2f}x | {met(peak_all < TARGET_RSS_MIB)} |",
        f"| RSS flat over {args.long:,} events (growth < 5 MiB after the first 10 %) "
        f"| {growth:+.1f} MiB | | {met(growth < 5)} |",
        "",
        "## Runs",
        "",
        "| run | wall | peak RSS | alerts |",
        "|---|---:|---:|---:|",
        run_row(f"k8s audit, k8s rules, {n_k8s:,} events", k8s, f"{k8s_alerts:,}"),
        run_row("k8s audit, k8s rules, 1 event (start-up)", k8s_start),
        run_row(f"k8s audit, all rules files, {n_k8s:,} events", k8s_all),
        run_row(f"CloudTrail, CloudTrail rules, {args.events:,} records", ct, f"{ct_alerts:,}"),
        run_row("CloudTrail, CloudTrail rules, 1 record (start-up)", ct_start),
        run_row(f"CloudTrail, all rules files, {args.events:,} records", ct_all),
        "",
        f"## RSS over a {args.long:,}-event stream (in process, all rules files, k8s_audit)",
        "",
        "| events | RSS |",
        "|---:|---:|",
        *(f"| {i:,} | {r:.1f} MiB |" for i, r in samples),
        "",
    ]
    text = "\n".join(lines)
    args.results.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    raise SystemExit(code)
