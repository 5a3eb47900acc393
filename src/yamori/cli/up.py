"""``yamori up``: the whole product on one machine — server, console, first scans, sensor.

What ``make run`` starts. It runs ``yamori server``'s own code path (``ensure_admin_token``,
``create_app`` on the embedded SQLite store, uvicorn) and, once the server answers, does in
background threads what a new user would otherwise have to learn first:

- a first inventory and vulnerability scan of this host (``--scan-root``, ``/`` by default) and of
  every local image in podman's containers-storage (``podman images --format json``). Each scan
  runs as a child ``yamori host|image -f json`` process — the same code a CI job runs, and a
  scan's memory goes back to the system when it ends instead of staying in the server — and
  its JSON is validated and stored with the API's own ingestion (``ImageScanPayload`` +
  ``ingest_image_scan``) in this process: no HTTP round trip and no extra token to mint.
  Without a vulnerability database (``yamori db status`` would find none) the scans list
  packages only and say how to get one;
- the containers running on this host (``yamori workloads``: podman's containers with their
  image, labels, Kubernetes pod and privileged flag), stored as workload assets before the first
  scans and refreshed every ``WORKLOADS_EVERY`` seconds while ``up`` runs, so alerts from
  containers started later link to their workload;
- when running as root with bpftrace installed, ``yamori sensor --format json`` as a child
  process; a reader thread stores each alert line as it arrives (``AlertPayload`` +
  ``ingest_alerts``, as ``POST /api/v1/alerts`` does). The sensor's stdout pipe is the buffer
  between the two, so no spool is needed: if this process dies the sensor dies with it.

Ctrl-C (or SIGTERM) stops uvicorn, then stops the children (SIGTERM, then SIGKILL after a grace
period), joins the threads and closes the store, so a restart finds a consistent database.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from yamori.store import Store

SOURCE = "yamori-up"  # the scan runs' ``source``: what an API submission records as the token name
FALCO_RULES = (Path("/etc/falco/falco_rules.yaml"),)  # Falco's stable rules where Falco installs them
STOP_GRACE = 5.0
WORKLOADS_EVERY = 300.0  # seconds between workload refreshes (two podman calls each)


def _say(message: str) -> None:
    click.echo(f"yamori: {message}", err=True)


def _yamori(*args: str) -> list[str]:
    """This very yamori (same venv, same version) as a child process."""
    return [sys.executable, "-c", "from yamori.cli.main import main; main()", *args]


class Background:
    """The work that runs next to the server: scans and the sensor, all stoppable at once.

    Children are tracked so shutdown can end them; ``stopping`` tells threads to give up between
    steps (a scan of the whole host may take a minute; Ctrl-C should not wait for it).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.stopping = threading.Event()
        self._children: list[subprocess.Popen[bytes]] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.alerts_stored = 0

    def spawn(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except Exception as exc:  # a failed scan must never take the server down
                if not self.stopping.is_set():
                    _say(f"{name} failed: {exc}")

        thread = threading.Thread(target=guarded, name=f"yamori-up-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def popen(self, args: list[str], **kwargs: Any) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self.stopping.is_set():
                return None
            child = subprocess.Popen(args, **kwargs)
            self._children.append(child)
            return child

    def stop(self) -> None:
        """Children get SIGTERM (the sensor detaches its probes and flushes), then SIGKILL."""
        with self._lock:
            self.stopping.set()
            children = list(self._children)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for thread in self._threads:
            thread.join(STOP_GRACE)

    # -- scans ---------------------------------------------------------------------------------

    def scan(self, label: str, args: list[str], rename: str | None = None) -> bool:
        """Run one ``yamori host|image -f json`` child and store its result; False if it failed."""
        from yamori.store.ingest import ingest_image_scan
        from yamori.store.payloads import ImageScanPayload

        with tempfile.TemporaryDirectory(prefix="yamori-up-") as tmp:
            out = Path(tmp) / "scan.json"
            child = self.popen(
                [*args, "-f", "json", "-o", str(out), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            if child is None:
                return False
            _, err = child.communicate()
            if self.stopping.is_set():
                return False
            # exit 2 with a file: a partial scan (some layer unreadable) is still worth storing
            if not out.is_file():
                last = err.decode("utf-8", "replace").strip().splitlines()
                _say(f"scan of {label} failed: {last[-1] if last else f'exit {child.returncode}'}")
                return False
            payload = ImageScanPayload.model_validate_json(out.read_bytes())
        if rename:
            payload.artifact.name = rename
        with self.store.session() as session:
            _run, counts = ingest_image_scan(session, payload, source=SOURCE)
        _say(
            f"scanned {label}: {len(payload.packages)} packages, "
            f"{sum(1 for f in payload.findings if f.kind == 'vulnerability')} vulnerabilities "
            f"({counts.new} new)"
        )
        return True

    def workloads(self, env: dict[str, str] | None = None, *, quiet: bool = False) -> bool:
        """Store this host's running containers as workloads (``yamori workloads``'s report)."""
        from yamori.sources.workloads import WorkloadError, collect_podman
        from yamori.store.ingest import ingest_workloads
        from yamori.store.payloads import WorkloadReportPayload

        try:
            report = collect_podman(env=env)
        except WorkloadError as exc:
            if not quiet:
                _say(f"workloads not listed: {exc}")
            return False
        payload = WorkloadReportPayload.model_validate(report)
        with self.store.session() as session:
            ingest_workloads(session, payload, source=SOURCE)
        if not quiet:
            _say(f"workloads: {len(payload.workloads)} running container(s) on {payload.host}")
        return True

    def refresh_workloads(self, every: float = WORKLOADS_EVERY) -> None:
        """The first workload report, then one every ``every`` seconds until stopped."""
        if not self.workloads():
            return  # no podman here: nothing will appear later either
        while not self.stopping.wait(every):
            self.workloads(quiet=True)

    def first_scans(self, scan_root: Path, images: bool) -> None:
        """This host, then each local image: one after another, so the machine stays usable."""
        from yamori.config import vulndb_file

        db_dir = os.environ.get("YAMORI_DB_DIR")
        vuln = ["--vuln"] if vulndb_file(Path(db_dir) if db_dir else None).is_file() else ["--no-vuln"]
        if vuln == ["--no-vuln"]:
            _say("no vulnerability database: run `yamori db update` to see vulnerabilities (packages only)")
        root = scan_root.resolve()
        name = socket.gethostname() if root == Path("/") else f"{socket.gethostname()}:{root}"
        self.scan(f"host {name}", _yamori("host", "--root", str(root), *vuln), rename=name)
        if not images or self.stopping.is_set():
            return
        for reference in local_images():
            if self.stopping.is_set():
                return
            self.scan(reference, _yamori("image", f"containers-storage:{reference}", *vuln))

    # -- sensor --------------------------------------------------------------------------------

    def sensor(self, rules: list[str], default_rules: bool) -> None:
        """``yamori sensor --format json``; each stdout line is one alert, stored as it comes."""
        args = ["sensor", "--format", "json"]
        for path in rules:
            args += ["--rules", path]
        if not default_rules:
            args.append("--no-default-rules")
        child = self.popen(_yamori(*args), stdout=subprocess.PIPE, stderr=None)
        if child is None or child.stdout is None:
            return
        self._store_alerts(child.stdout)
        code = child.wait()
        if not self.stopping.is_set():
            _say(f"the sensor stopped (exit {code}); alerts stored: {self.alerts_stored}")

    def _store_alerts(self, stream: IO[bytes]) -> None:
        from pydantic import ValidationError

        from yamori.store.ingest import ingest_alerts
        from yamori.store.payloads import AlertPayload

        for line in stream:
            if not line.strip():
                continue
            try:
                alert = AlertPayload.model_validate_json(line)
            except ValidationError as exc:
                _say(f"sensor line not stored: {exc.errors()[0]['msg']}")
                continue
            with self.store.session() as session:
                self.alerts_stored += ingest_alerts(session, [alert])


def local_images() -> list[str]:
    """Names (or ids, for untagged images) in podman's containers-storage; [] without podman."""
    podman = shutil.which("podman")
    if podman is None:
        _say("podman is not installed: no local container images to scan")
        return []
    proc = subprocess.run(
        [podman, "images", "--format", "json"], capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        _say(f"podman images failed: {proc.stderr.strip()[:200]}; no images scanned")
        return []
    try:
        rows = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        _say("podman images printed something other than JSON; no images scanned")
        return []
    references: list[str] = []
    for row in rows if isinstance(rows, list) else []:
        names = row.get("Names") or []
        reference = str(names[0]) if names else str(row.get("Id", ""))
        if reference and reference not in references:
            references.append(reference)
    if not references:
        _say("no local container images in podman's containers-storage")
    return references


def sensor_rules(user_rules: tuple[str, ...]) -> tuple[list[str], bool]:
    """The rules files to give the sensor, and whether it should add its own (drift) rules.

    Without ``--rules``: yamori's drift rules (the sensor loads them itself) plus Falco's stable
    rules when Falco's package put them in /etc/falco.
    """
    if user_rules:
        return list(user_rules), True
    from yamori.cli.sensor import default_rules_files

    falco = [str(path) for path in FALCO_RULES if path.is_file()]
    if falco:
        return falco, True
    # --rules is required by the sensor: name the drift rules and skip loading them twice
    return default_rules_files(), False


def sensor_blocker() -> str | None:
    """Why the sensor cannot run here (one line), or None."""
    if os.geteuid() != 0:
        return "not running as root: the sensor is off (run `sudo yamori up` for runtime alerts)"
    if shutil.which("bpftrace") is None:
        return "bpftrace is not installed: the sensor is off (apt-get install bpftrace)"
    return None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8470, show_default=True)
@click.option("--no-sensor", is_flag=True, help="Do not start the runtime sensor.")
@click.option("--no-scan", is_flag=True, help="Do not scan this host and its local images at start.")
@click.option(
    "--scan-root", type=click.Path(file_okay=False, path_type=Path), default=Path("/"), show_default=True,
    help="Root of the host filesystem to scan.",
)  # fmt: skip
@click.option(
    "--rules", "rules_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
    help="Falco rules file for the sensor (repeatable; default: /etc/falco/falco_rules.yaml if "
    "present, plus yamori's drift rules).",
)  # fmt: skip
@click.option("--no-images", is_flag=True, help="Scan the host but not podman's local images.")
@click.option("--no-workloads", is_flag=True, help="Do not report this host's running containers.")
def up(
    host: str, port: int, no_sensor: bool, no_scan: bool, scan_root: Path, rules_files: tuple[str, ...],
    no_images: bool, no_workloads: bool,
) -> None:  # fmt: skip
    """Start the server and console, scan this host and its images, run the sensor (as root)."""
    import uvicorn

    from yamori.server import ServerSettings, create_app, ensure_admin_token
    from yamori.store import StoreError, open_store

    try:
        store = open_store(None)  # the embedded SQLite store in the data directory
    except StoreError as exc:
        click.echo(f"yamori: error: {exc}", err=True)
        raise click.exceptions.Exit(2) from None
    issued = ensure_admin_token(store)
    app = create_app(ServerSettings(host=host, port=port), store=store)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    background = Background(store)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/console/"

    def when_started() -> None:
        while not server.started:
            if server.should_exit or background.stopping.wait(0.05):
                return
        _say(f"store: {store.engine.url.render_as_string(hide_password=True)}")
        if issued is not None:
            click.echo(f"yamori: admin token (shown once, keep it safe): {issued.secret}")
        else:
            click.echo(
                "yamori: sign in with an admin token you already have; create another with "
                "`yamori server token create --role admin --name NAME`"
            )
        click.echo(f"yamori: console at {url}")
        sys.stdout.flush()
        if not no_workloads:
            background.spawn("workloads", background.refresh_workloads)
        if not no_scan:
            background.spawn("scan", lambda: background.first_scans(scan_root, not no_images))
        if no_sensor:
            return
        blocker = sensor_blocker()
        if blocker is not None:
            _say(blocker)
            return
        rules, default_rules = sensor_rules(rules_files)
        _say(f"starting the sensor with {', '.join(rules)}{' + drift rules' if default_rules else ''}")
        background.spawn("sensor", lambda: background.sensor(rules, default_rules))

    def on_term(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # uvicorn catches SIGINT/SIGTERM, shuts down, restores these handlers and raises the signal
    # again: SIGTERM must then unwind like Ctrl-C (to stop the children), not kill the process.
    signal.signal(signal.SIGTERM, on_term)
    starter = threading.Thread(target=when_started, name="yamori-up-start", daemon=True)
    starter.start()
    interrupted = False
    try:
        server.run()
    except KeyboardInterrupt:
        interrupted = True
    except SystemExit:  # uvicorn exits when it cannot bind; said below in yamori's words
        pass
    finally:
        _say("stopping: scans and sensor")
        background.stop()
        starter.join(STOP_GRACE)
        store.dispose()
    if not server.started and not interrupted:
        click.echo(f"yamori: error: could not serve on {host}:{port} (is the port in use?)", err=True)
        raise click.exceptions.Exit(1)
    _say("stopped")
