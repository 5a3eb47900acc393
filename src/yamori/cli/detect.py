"""`yamori detect` and `yamori rules validate`: Falco's rules over k8s audit and CloudTrail events.

The detection modules are imported inside the commands so registering them costs other commands
nothing. Exit codes: 0 done, 2 when the rules do not load (errors printed with file:line).
"""

from __future__ import annotations

import gc
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from yamori.server_client import server_options

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from yamori.detect.compiler import CompiledRules
    from yamori.detect.fields.interface import Event, FieldClass
    from yamori.detect.inputs import InputStats
    from yamori.detect.output import Alert
    from yamori.detect.sinks import AlertDispatcher

EXIT_INPUT_ERROR = 2
SOURCES = ("k8s_audit", "aws_cloudtrail")


def _field_classes() -> dict[str, FieldClass]:
    from yamori.detect.sources import field_classes

    return field_classes()


def _compile(paths: Sequence[str], classes: dict[str, FieldClass]) -> CompiledRules:
    """Load and compile; every message goes to stderr, errors end the command with exit 2."""
    from yamori.detect.compiler import compile_ruleset
    from yamori.detect.rules import load_rules_files

    compiled = compile_ruleset(load_rules_files(paths), classes)
    for message in compiled.messages:
        click.echo(str(message), err=True)
    if compiled.errors:
        click.echo(f"yamori: error: {len(compiled.errors)} error(s) in the rules", err=True)
        raise click.exceptions.Exit(EXIT_INPUT_ERROR)
    return compiled


def format_alert_text(alert: Alert) -> str:
    """Falco's text line: ``HH:MM:SS.nnnnnnnnn: Priority Output`` (event time, UTC)."""
    from yamori.detect.fields._time import ns_to_clock

    return f"{ns_to_clock(alert.time)}: {alert.priority} {alert.output}"


def _parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    try:
        number = int(port)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not HOST:PORT", param_hint="--listen") from None
    if not 0 <= number <= 65535:
        raise click.BadParameter(f"port {number} is out of range", param_hint="--listen")
    return host.strip("[]") or "127.0.0.1", number


@click.command()
@click.option("--source", type=click.Choice(SOURCES), required=True, help="Event source.")
@click.option(
    "--rules", "rules_files", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
    help="Falco rules file (repeatable, loaded in order).",
)  # fmt: skip
@click.option(
    "--input", "inputs", multiple=True,
    help="Input file ('-' for stdin; k8s_audit: JSON lines; aws_cloudtrail: .json/.json.gz, a directory "
    "or s3://BUCKET/PREFIX).",
)  # fmt: skip
@click.option("--sqs-queue", default=None, help="aws_cloudtrail: read the objects an SQS queue announces.")
@click.option("--follow", is_flag=True, help="s3:// input: keep polling for new objects; SQS: never stop.")
@click.option(
    "--poll-interval", type=click.FloatRange(min=0.01), default=60.0, show_default=True,
    help="Seconds between S3 polls with --follow.",
)  # fmt: skip
@click.option(
    "--state-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="s3:// input: record of processed objects [default: <data dir>/detect/cloudtrail-s3-*.json].",
)  # fmt: skip
@click.option("--since", default=None, help="s3:// input, first run: objects from this ISO date/time on.")
@click.option("--aws-profile", default=None, help="AWS profile for s3:// and SQS input.")
@click.option("--aws-region", default=None, help="AWS region for s3:// and SQS input.")
@click.option("--aws-endpoint-url", default=None, help="AWS endpoint override (VPC endpoint, LocalStack).")
@click.option("--listen", default=None, help="k8s_audit: serve POST /k8s-audit on HOST:PORT.")
@click.option("--rule-matching", type=click.Choice(["first", "all"]), default="first", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--output", "output", type=click.Path(dir_okay=False, writable=True), default=None)
@click.option("--webhook", "webhooks", multiple=True, help="POST each alert's JSON to this URL (repeatable).")
@click.option(
    "--syslog",
    "syslog_url",
    default=None,
    help="Send alerts as RFC 5424 syslog to udp://HOST:PORT or tcp://HOST:PORT.",
)
@click.option("--syslog-facility", default="local0", show_default=True, help="Syslog facility.")
@click.option(
    "--rate-limit",
    "rate_limit",
    default=None,
    help="Alerts per rule (N/s or N/m); 0 = unlimited [default: 100/s with --listen, unlimited "
    "when replaying files or stdin, where wall-clock limits would drop alerts of a fast replay].",
)
@click.option(
    "--rate-burst",
    "rate_burst",
    type=click.IntRange(min=1),
    default=None,
    help="Token bucket size per rule [default: 2x the per-second rate, at least 1].",
)
@server_options
def detect(
    source: str,
    rules_files: tuple[str, ...],
    inputs: tuple[str, ...],
    listen: str | None,
    rule_matching: str,
    fmt: str,
    output: str | None,
    webhooks: tuple[str, ...],
    syslog_url: str | None,
    syslog_facility: str,
    rate_limit: str | None,
    rate_burst: int | None,
    sqs_queue: str | None,
    follow: bool,
    poll_interval: float,
    state_file: Path | None,
    since: str | None,
    aws_profile: str | None,
    aws_region: str | None,
    aws_endpoint_url: str | None,
    server_url: str | None,
    token: str | None,
) -> None:
    """Run Falco rules over events from files, stdin, the k8s audit webhook, S3 or SQS."""
    from yamori.detect.cloudtrail_aws import CloudTrailInputError
    from yamori.detect.engine import Engine
    from yamori.detect.inputs import InputStats, cloudtrail_files, k8s_audit_lines

    if listen is not None and source != "k8s_audit":
        raise click.UsageError("--listen is only for --source k8s_audit")
    s3_inputs = [i for i in inputs if i.startswith("s3://")]
    from_aws = bool(s3_inputs) or sqs_queue is not None
    if from_aws and source != "aws_cloudtrail":
        raise click.UsageError("s3:// input and --sqs-queue are only for --source aws_cloudtrail")
    if sqs_queue is not None and inputs:
        raise click.UsageError("--sqs-queue reads from the queue; drop --input")
    if s3_inputs and len(inputs) != 1:
        raise click.UsageError("give one s3:// input, without other inputs")
    if not from_aws and (follow or state_file is not None or since is not None):
        raise click.UsageError("--follow, --state-file and --since need an s3:// input or --sqs-queue")
    address = _parse_listen(listen) if listen is not None else None
    if not inputs and address is None and not from_aws:
        inputs = ("-",)
    if source == "aws_cloudtrail" and "-" in inputs:
        raise click.UsageError("aws_cloudtrail reads files or directories, not stdin")
    if rate_limit is None:
        rate_limit = "100/s" if address is not None else "0"
    classes = _field_classes()
    compiled = _compile(rules_files, {source: classes[source]})
    engine = Engine(compiled, rule_matching="all" if rule_matching == "all" else "first")
    # The compiled rules live as long as the process: move them out of the cyclic collector's
    # sight, or every collection walks thousands of closures (measured: 25 % of engine time).
    gc.freeze()
    hostname = socket.gethostname()
    stats = InputStats()
    alerts = 0
    dispatcher = _dispatcher(
        fmt,
        output,
        webhooks,
        syslog_url,
        syslog_facility,
        rate_limit,
        rate_burst,
        hostname,
        server_url,
        token,
    )
    try:

        def emit(events: Iterable[Event]) -> None:
            nonlocal alerts
            for event in events:
                for alert in engine.process(event):
                    alerts += 1
                    dispatcher.send(alert)

        if from_aws or inputs:
            try:
                if from_aws:
                    from contextlib import closing

                    from yamori.detect.cloudtrail_aws import open_cloudtrail_stream
                    from yamori.sources.aws.session import AwsSettings, SessionFactory

                    aws = AwsSettings(profile=aws_profile, region=aws_region, endpoint_url=aws_endpoint_url)
                    stream = open_cloudtrail_stream(
                        SessionFactory(aws), stats, s3_url=s3_inputs[0] if s3_inputs else None,
                        sqs_queue=sqs_queue, follow=follow, poll_interval=poll_interval,
                        state_file=state_file, since=since,
                    )  # fmt: skip
                    with closing(stream):  # closing saves the S3 follower's state, Ctrl-C included
                        emit(stream)
                elif source == "k8s_audit":
                    emit(k8s_audit_lines(inputs, stats, sys.stdin.buffer))
                else:
                    emit(cloudtrail_files(inputs, stats))
            except KeyboardInterrupt:
                if not from_aws:
                    raise
                # a follower stopped by Ctrl-C: its state is saved, the summary follows
            except (OSError, CloudTrailInputError) as exc:
                click.echo(f"yamori: error: {exc}", err=True)
                raise click.exceptions.Exit(EXIT_INPUT_ERROR) from None
            summary = f"events={stats.events} alerts={alerts} skipped={stats.skipped}"
            click.echo(f"{summary} {dispatcher.dropped_summary()}", err=True)
        if address is not None:
            _serve(address, stats, emit, dispatcher)
    finally:
        dispatcher.close()


def _dispatcher(
    fmt: str,
    output: str | None,
    webhooks: Sequence[str],
    syslog_url: str | None,
    syslog_facility: str,
    rate_limit: str,
    rate_burst: int | None,
    hostname: str,
    server_url: str | None = None,
    token: str | None = None,
) -> AlertDispatcher:
    """The sinks the options ask for (stdout or --output, webhooks, syslog, a yamori server)
    behind the rate limit; network sinks each run on their own queue."""
    from yamori.detect.output import alert_to_json
    from yamori.detect.sinks import (
        AlertDispatcher,
        AlertSink,
        QueuedSink,
        RateLimiter,
        create_sink,
        parse_rate,
    )

    try:
        rate = parse_rate(rate_limit)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--rate-limit") from None
    burst = float(rate_burst) if rate_burst is not None else max(1.0, 2 * rate)

    def render(alert: Alert) -> str:
        return alert_to_json(alert, hostname) if fmt == "json" else format_alert_text(alert)

    sinks: list[AlertSink] = []
    try:
        for url in webhooks:
            try:
                sinks.append(QueuedSink(create_sink("webhook", url, hostname), f"webhook {url}"))
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--webhook") from None
        if syslog_url is not None:
            try:
                syslog = create_sink("syslog", syslog_url, hostname, facility=syslog_facility)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--syslog") from None
            sinks.append(QueuedSink(syslog, f"syslog {syslog_url}"))
        if server_url:
            if not token:
                raise click.UsageError("--server needs --token (or YAMORI_TOKEN)")
            sinks.append(
                QueuedSink(create_sink("server", server_url, token, hostname), f"server {server_url}")
            )
        sinks.insert(0, create_sink("file", output, render) if output else create_sink("stdout", render))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return AlertDispatcher(sinks, RateLimiter(rate, burst))


def _serve(
    address: tuple[str, int],
    stats: InputStats,
    emit: Callable[[Iterable[Event]], None],
    dispatcher: AlertDispatcher,
) -> None:
    """Serve the webhook until interrupted, feeding posted events to ``emit``."""
    from yamori.detect.inputs import AuditWebhookServer

    try:
        server = AuditWebhookServer(address[0], address[1], stats)
    except OSError as exc:
        click.echo(f"yamori: error: cannot listen on {address[0]}:{address[1]}: {exc}", err=True)
        raise click.exceptions.Exit(EXIT_INPUT_ERROR) from None
    server.start()
    host, port = server.address
    click.echo(f"listening on http://{host}:{port}/k8s-audit", err=True)
    try:
        while True:
            event = server.get(timeout=1.0)
            if event is not None:
                emit([event])
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        click.echo(f"events={stats.events} skipped={stats.skipped} {dispatcher.dropped_summary()}", err=True)


@click.group()
def rules() -> None:
    """Falco rules files."""


@rules.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Load and compile rules files against every source yamori has fields for."""
    compiled = _compile(files, _field_classes())
    click.echo(f"{len(compiled.rules)} rule(s) OK, {len(compiled.warnings)} warning(s)")


@rules.command("test")
@click.option(
    "--rules", "rules_files", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
    help="Falco rules file (repeatable, loaded in order).",
)  # fmt: skip
@click.option("--verbose", "-v", is_flag=True, help="Also list passing cases and the rules they fired.")
@click.argument("tests", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def test_rules(rules_files: tuple[str, ...], verbose: bool, tests: tuple[str, ...]) -> None:
    """Run rule tests (events + the rules they must and must not fire); exit 1 if any fails.

    The test format is described in docs/detection.md ("Testing rules").
    """
    from yamori.detect.ruletest import RuleTestError, load_rule_tests, run_rule_tests, summarize

    cases = []
    for path in tests:
        try:
            cases.extend(load_rule_tests(path))
        except RuleTestError as exc:
            click.echo(f"yamori: error: {exc}", err=True)
            raise click.exceptions.Exit(EXIT_INPUT_ERROR) from None
    compiled = _compile(rules_files, _field_classes())
    results = run_rule_tests(compiled, cases)
    for result in results:
        if result.passed:
            if verbose:
                fired = ", ".join(result.fired) or "nothing"
                click.echo(f"PASS {result.case.where} {result.case.name} (fired: {fired})")
            continue
        click.echo(f"FAIL {result.case.where} {result.case.name}")
        for problem in result.problems:
            click.echo(f"    {problem}")
    click.echo(summarize(results))
    if any(not r.passed for r in results):
        raise click.exceptions.Exit(1)
