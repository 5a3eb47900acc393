"""`yamori sensor`: Falco's syscall rules over live kernel events, captured with bpftrace.

Startup is ordered so every problem is one line naming its fix, before anything attaches: root,
bpftrace, BTF, tracefs (mounted here when missing, and said so), then the rules. Status lines go
to stderr (the ``ready`` line tells scripts and tests that the probes are attached); alerts go to
stdout, ``--output`` or the webhooks. Exit codes: 0 done, 2 unusable rules or a failed start.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from yamori.server_client import server_options

if TYPE_CHECKING:
    from yamori.detect.compiler import CompiledRules

from yamori.detect.rules.model import Priority as _Priority

_PRIORITIES = list(_Priority)
EXIT_INPUT_ERROR = 2
TRACEFS = Path("/sys/kernel/tracing")
DEBUGFS = Path("/sys/kernel/debug")
BTF = Path("/sys/kernel/btf/vmlinux")


def _fail(message: str) -> click.exceptions.Exit:
    click.echo(f"yamori: error: {message}", err=True)
    return click.exceptions.Exit(EXIT_INPUT_ERROR)


def _mounted(path: Path) -> bool:
    return os.path.ismount(path)


def _ensure_tracefs() -> None:
    """Mount tracefs (and debugfs, which older bpftrace paths look under) when missing."""
    for fstype, path in (("tracefs", TRACEFS), ("debugfs", DEBUGFS)):
        if _mounted(path) or (fstype == "tracefs" and (path / "events").is_dir()):
            continue
        proc = subprocess.run(["mount", "-t", fstype, "nodev", str(path)], capture_output=True, text=True)
        if proc.returncode != 0 and fstype == "tracefs":
            raise _fail(
                f"tracefs is not mounted and mounting it failed ({proc.stderr.strip()}): "
                f"mount -t tracefs nodev {TRACEFS}"
            )
        if proc.returncode == 0:
            click.echo(f"yamori sensor: mounted {fstype} at {path}", err=True)


def _runtime_sockets(values: tuple[str, ...]) -> dict[str, str]:
    """``--runtime-socket docker=/path`` values → {runtime: path}; bad ones are usage errors."""
    from yamori.sensor.runtimes import RUNTIMES

    out: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or name not in RUNTIMES or not path:
            known = ", ".join(RUNTIMES)
            raise _fail(f"--runtime-socket {value!r}: expected RUNTIME=PATH, RUNTIME one of {known}")
        out[name] = path.removeprefix("unix://")
    return out


def check_preconditions() -> str:
    """Root, bpftrace, BTF, tracefs; returns the bpftrace path."""
    if os.geteuid() != 0:
        raise _fail("the sensor needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN): run it with sudo")
    binary = shutil.which("bpftrace")
    if binary is None:
        raise _fail("bpftrace is not installed: apt-get install bpftrace")
    if not BTF.exists():
        raise _fail(f"the kernel exposes no BTF ({BTF}): use a kernel built with CONFIG_DEBUG_INFO_BTF=y")
    _ensure_tracefs()
    return binary


DEFAULT_RULES = Path(__file__).resolve().parent.parent / "sensor" / "rules"


def default_rules_files() -> list[str]:
    """yamori's own sensor rules (drift), loaded before the user's files."""
    return sorted(str(p) for p in DEFAULT_RULES.glob("*.yaml"))


def _compile(paths: tuple[str, ...]) -> tuple[CompiledRules, dict[str, float]]:
    """Compile for the syscall source; rules that fail are reported and skipped (not fatal).

    Also returns the rules with Falco's ``capture: true`` (rule name -> capture seconds, 0 for
    the default): the compiled rules do not carry that key, the loaded rule set does.
    """
    from yamori.detect.compiler import compile_ruleset
    from yamori.detect.rules import load_rules_files
    from yamori.detect.sources import field_classes

    ruleset = load_rules_files(paths)
    captures = {r.name: r.capture_duration / 1000.0 for r in ruleset.rules.values() if r.capture}
    compiled = compile_ruleset(ruleset, field_classes(["syscall"]))
    for message in compiled.messages:
        click.echo(str(message), err=True)
    syscall_rules = [r for r in compiled.rules if r.source == "syscall"]
    if not syscall_rules:
        raise _fail("no syscall rule compiled from the rules files")
    if compiled.errors:
        click.echo(
            f"yamori sensor: {len(compiled.errors)} rule error(s) above; running the "
            f"{len(syscall_rules)} syscall rule(s) that compiled",
            err=True,
        )
    return compiled, captures


@click.command()
@click.option(
    "--rules", "rules_files", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
    help="Falco rules file (repeatable, loaded in order).",
)  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--output", "output", type=click.Path(dir_okay=False, writable=True), default=None)
@click.option("--webhook", "webhooks", multiple=True, help="POST each alert's JSON to this URL (repeatable).")
@click.option("--rule-matching", type=click.Choice(["first", "all"]), default="first", show_default=True)
@click.option("--duration", type=click.FloatRange(min=0.0), default=None, help="Stop after SECONDS (tests).")
@click.option(
    "--no-container-output", is_flag=True,
    help="Do not append container and pod fields to every rule's output (Falco's container plugin does).",
)  # fmt: skip
@click.option(
    "--failed-opens", is_flag=True, help="Also capture opens that failed (costly; few rules use them)."
)
@click.option("--no-default-rules", is_flag=True, help="Do not load yamori's own sensor rules (drift).")
@click.option(
    "--kernel-filter/--no-kernel-filter", "kernel_filter", default=True, show_default=True,
    help="Drop, in the kernel, opens of host processes no loaded rule can match, and coalesce "
    "repeated opens of container processes (see docs/sensor.md).",
)  # fmt: skip
@click.option(
    "--prevent-drift", is_flag=True,
    help="Kill (SIGKILL) processes in containers that run an executable not in the image.",
)  # fmt: skip
@click.option(
    "--prevent-drift-image", "drift_images", multiple=True, metavar="PATTERN",
    help="Limit --prevent-drift to images matching this glob (repeatable; implies --prevent-drift).",
)  # fmt: skip
@click.option(
    "--prevent-drift-namespace", "drift_namespaces", multiple=True, metavar="NS",
    help="Limit --prevent-drift to this Kubernetes namespace (repeatable; implies --prevent-drift).",
)  # fmt: skip
@click.option(
    "--capture-priority", type=click.Choice([p.name.lower() for p in _PRIORITIES], case_sensitive=False),
    default=None, help="Write a capture for every alert at or above this priority (default: none).",
)  # fmt: skip
@click.option(
    "--capture-seconds", type=click.FloatRange(min=0.0), default=10.0, show_default=True,
    help="How long a capture keeps recording after the alert.",
)  # fmt: skip
@click.option(
    "--capture-retention-days", type=click.FloatRange(min=0.0), default=7.0, show_default=True,
    help="Remove local capture files older than this (at start and after each capture).",
)  # fmt: skip
@click.option(
    "--capture-max-mb", type=click.IntRange(min=1), default=1024, show_default=True,
    help="Keep local capture files within this many MiB, removing the oldest first.",
)  # fmt: skip
@click.option(
    "--in-use/--no-in-use", "in_use", default=True, show_default=True,
    help="Record which image files container processes execute, open and map (yamori image --in-use).",
)  # fmt: skip
@click.option(
    "--metrics-port", type=click.IntRange(1, 65535), default=None,
    help="Serve Prometheus metrics on 127.0.0.1:PORT.",
)  # fmt: skip
@click.option(
    "--runtime-socket", "runtime_sockets", multiple=True, metavar="RUNTIME=PATH",
    help="Socket of a container runtime: podman, docker, containerd or cri-o (repeatable; "
    "defaults: /run/podman/podman.sock, /var/run/docker.sock, /run/containerd/containerd.sock, "
    "/var/run/crio/crio.sock).",
)  # fmt: skip
@click.option(
    "--aws-metadata/--no-aws-metadata", "aws_metadata", default=False, show_default=True,
    help="Fill cloud.account.id, cloud.region, cloud.instance.id... from the EC2 metadata service (IMDSv2).",
)  # fmt: skip
@click.option(
    "--imds-endpoint", default=None, metavar="URL",
    help="EC2 metadata service for --aws-metadata (default: http://169.254.169.254).",
)  # fmt: skip
@click.option(
    "--dns-hosts", "dns_hosts", type=click.Path(exists=True, dir_okay=False), default=None, metavar="FILE",
    help="hosts(5)-format file naming addresses for fd.sip.name, fd.cip.name, fd.lip.name and "
    "fd.rip.name; its entries take precedence over the names the rules use, which are resolved "
    "with the system resolver every 30 s (air-gapped nodes, cluster-only names).",
)  # fmt: skip
@server_options
def sensor(
    rules_files: tuple[str, ...],
    fmt: str,
    output: str | None,
    webhooks: tuple[str, ...],
    rule_matching: str,
    duration: float | None,
    failed_opens: bool,
    no_container_output: bool,
    no_default_rules: bool,
    kernel_filter: bool,
    prevent_drift: bool,
    drift_images: tuple[str, ...],
    drift_namespaces: tuple[str, ...],
    capture_priority: str | None,
    capture_seconds: float,
    capture_retention_days: float,
    capture_max_mb: int,
    metrics_port: int | None,
    in_use: bool,
    runtime_sockets: tuple[str, ...],
    aws_metadata: bool,
    imds_endpoint: str | None,
    dns_hosts: str | None,
    server_url: str | None,
    token: str | None,
) -> None:
    """Capture syscalls with bpftrace and run Falco's syscall rules on them (needs root)."""
    from yamori.cli.detect import _dispatcher
    from yamori.config import data_dir
    from yamori.detect.rules.model import Priority
    from yamori.sensor.bpftrace import BpftraceBackend, BpftraceError, available_syscalls, generate_program
    from yamori.sensor.captures import CaptureRecorder, prune_captures
    from yamori.sensor.containers import ContainerResolver
    from yamori.sensor.dnsnames import DnsNames, rule_names
    from yamori.sensor.drift import WRITE_TYPES, DriftGuard, DriftPolicy
    from yamori.sensor.hostinfo import host_info
    from yamori.sensor.interface import OPEN_SYSCALLS
    from yamori.sensor.inuse import OPEN_TYPES, InUseRecorder
    from yamori.sensor.prefilter import describe as describe_filter
    from yamori.sensor.prefilter import host_mount_namespace, open_path_filter
    from yamori.sensor.runner import SensorRunner, append_container_output, rule_evttypes, unfilled_fields

    sockets = _runtime_sockets(runtime_sockets)
    binary = check_preconditions()
    files = tuple(default_rules_files()) + rules_files if not no_default_rules else rules_files
    compiled, capture_rules = _compile(files)
    if not no_container_output:
        append_container_output(compiled)
    types, unbounded = rule_evttypes(compiled)
    if unbounded:
        click.echo(f"yamori sensor: rules without an evt.type restriction: {', '.join(unbounded)}", err=True)
    available = available_syscalls(TRACEFS)
    # drift tracking: what containers create, rename or chmod +x (only where the kernel has it)
    extra = {t for t in WRITE_TYPES if available is None or t in available}
    if in_use:  # packages in use: read opens of container processes (see sensor/inuse.py)
        extra |= {t for t in OPEN_TYPES if available is None or t in available}
    open_filter = open_path_filter(compiled) if kernel_filter else None
    program, attached, skipped = generate_program(
        types | extra,
        os.getpid(),
        available=available,
        emit_failed_opens=failed_opens,
        open_filter=open_filter,
        host_mntns=host_mount_namespace(),
    )
    if open_filter is not None and OPEN_SYSCALLS & set(attached):
        click.echo(f"yamori sensor: opens sent to user space: {describe_filter(open_filter)}", err=True)
    click.echo(f"yamori sensor: syscalls captured: {', '.join(attached)} (+ process lifecycle)", err=True)
    if skipped:
        click.echo(
            f"yamori sensor: event types the rules name but not captured: {', '.join(skipped)}", err=True
        )
    missing = unfilled_fields(compiled)
    if missing:
        click.echo(f"yamori sensor: fields the rules use that stay <NA>: {', '.join(missing)}", err=True)

    hostname = socket.gethostname()
    dispatcher = _dispatcher(
        fmt, output, webhooks, None, "local0", "0", None, hostname, server_url=server_url, token=token
    )
    backend = BpftraceBackend(program, bpftrace=binary)
    containers = ContainerResolver(runtime_sockets=sockets)
    host = host_info(aws=aws_metadata or bool(imds_endpoint), endpoint=imds_endpoint, hostname=hostname)
    if aws_metadata or imds_endpoint:
        where = f"{host.account_id} {host.region} {host.instance_id}" if host.account_id else "not reachable"
        click.echo(f"yamori sensor: EC2 instance identity: {where}", err=True)
    policy = DriftPolicy(
        bool(prevent_drift or drift_images or drift_namespaces), drift_images, drift_namespaces
    )
    prio = Priority.parse(capture_priority) if capture_priority else None
    recorder = (
        CaptureRecorder(
            seconds=capture_seconds,
            retention_days=capture_retention_days,
            max_bytes=capture_max_mb << 20,
        )
        if (capture_rules or prio is not None)
        else None
    )
    if recorder is not None:
        pruned = prune_captures(recorder.directory, capture_retention_days, capture_max_mb << 20)
        if pruned:
            click.echo(f"yamori sensor: removed {pruned} old capture file(s) (retention)", err=True)
    inuse = InUseRecorder(containers.get, data_dir() / "inuse") if in_use else None
    runner = SensorRunner(
        compiled,
        backend,
        dispatcher.send,
        rule_matching=rule_matching,
        containers=containers,
        drift=DriftGuard(containers, policy),
        recorder=recorder,
        capture_rules=frozenset(capture_rules),
        capture_priority=prio,
        capture_durations={k: v for k, v in capture_rules.items() if v > 0},
        hostname=hostname,
        inuse=inuse,
    )
    if metrics_port is not None:
        from yamori.sensor.metrics import serve_metrics

        try:
            serve_metrics(runner, metrics_port)
        except OSError as exc:
            raise _fail(f"cannot serve metrics on 127.0.0.1:{metrics_port}: {exc}") from None
        click.echo(f"yamori sensor: metrics on http://127.0.0.1:{metrics_port}/metrics", err=True)
    if policy.prevent:
        scope = ", ".join([*drift_images, *drift_namespaces]) or "every container"
        click.echo(f"yamori sensor: drift prevention on ({scope}): drifted processes are killed", err=True)
    if recorder is not None:
        click.echo(
            f"yamori sensor: captures to {recorder.directory} (rules with capture: "
            f"{len(capture_rules)}, priority floor: {capture_priority or 'none'})",
            err=True,
        )
    runner.context.host = host
    dns_names = rule_names(compiled)
    dns = DnsNames(dns_names, Path(dns_hosts) if dns_hosts else None) if dns_names or dns_hosts else None
    if dns is not None:
        dns.start()  # the hosts file applies now; the rules' names resolve in the background
        runner.context.dns = dns
        click.echo(
            f"yamori sensor: fd.*ip.name: {len(dns.names)} name(s) the rules use, resolved every "
            f"{dns.interval:.0f} s; hosts file: {dns_hosts or 'none'} ({len(dns.mapping)} address(es))",
            err=True,
        )
    seeded = runner.table.seed()
    stopped_by_us = True
    try:
        try:
            backend.start()
        except BpftraceError as exc:
            raise _fail(f"bpftrace failed to start: {exc}") from None
        runner.start_reader()

        def on_signal(_sig: int, _frame: FrameType | None) -> None:
            runner.stop()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
        click.echo(
            f"yamori sensor: ready ({backend.probes} probes, {len(attached)} syscalls, "
            f"{len([r for r in compiled.rules if r.source == 'syscall'])} rules, {seeded} processes)",
            err=True,
        )
        sys.stderr.flush()
        runner.run(duration)
        # the loop ends on --duration, a signal, or the capture's end: only the last is a failure
        stopped_by_us = backend.returncode is None
    finally:
        backend.stop()
        runner.stop()
        runner.join(2.0)
        runner.context.containers.close()
        if dns is not None:
            dns.stop()
        if recorder is not None:
            recorder.close()
        if inuse is not None:
            inuse.close()
        dispatcher.close()
    stats = backend.stats
    counters = runner.counters
    click.echo(
        f"yamori sensor: {counters.summary()} lost={stats.lost} malformed={stats.malformed} "
        f"incomplete={stats.incomplete} kernel_filtered={stats.kernel_filtered} "
        f"kernel_coalesced={stats.kernel_coalesced} engine_errors={runner.engine.errors} "
        f"processes={len(runner.table)} containers_looked_up={runner.context.containers.lookups}",
        err=True,
    )
    drift = runner.drift
    if drift is not None and (drift.detected or drift.killed):
        click.echo(
            f"yamori sensor: drift detected={drift.detected} killed={drift.killed} "
            f"kill_failed={drift.kill_failed}",
            err=True,
        )
    if recorder is not None and recorder.stats.captures:
        rs = recorder.stats
        click.echo(
            f"yamori sensor: captures={rs.captures} dropped_lines={rs.dropped_lines} "
            f"write_errors={rs.write_errors}",
            err=True,
        )
    if inuse is not None:
        us = inuse.stats
        click.echo(
            f"yamori sensor: in use: paths={us.paths} images={len(inuse.images())} dropped={us.dropped} "
            f"maps_read={us.maps_read} maps_gone={us.maps_gone} unresolved={us.unresolved} "
            f"writes={us.writes} write_errors={us.write_errors} ({inuse.directory})",
            err=True,
        )
    top = ", ".join(f"{t}={n}" for t, n in counters.events.most_common(8))
    if top:
        click.echo(f"yamori sensor: events by type: {top}", err=True)
    if counters.dropped:
        click.echo(f"yamori sensor: dropped by type: {dict(counters.dropped)}", err=True)
    if not stopped_by_us and backend.returncode not in (None, 0):
        detail = backend.error_text() or f"exit status {backend.returncode}"
        click.echo(f"yamori: error: bpftrace stopped unexpectedly: {detail}", err=True)
        raise click.exceptions.Exit(1)
