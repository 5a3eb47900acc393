"""Real HTTP: the app under uvicorn on a free loopback port, driven by the CLI's own client and
commands (``yamori server token …``, ``yamori server submit``), on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from server.payloads import auth, image_scan, posture_finding, posture_scan, vuln_finding
from support.registry import free_port
from support.server import serve_in_thread
from yamori.cli.main import app as cli
from yamori.server import ensure_admin_token
from yamori.server_client import SubmitError, submit_scan
from yamori.store import Store


@pytest.fixture
def live_server(store: Store) -> Iterator[tuple[str, str]]:
    """(base URL, admin token) of a uvicorn server in a thread."""
    issued = ensure_admin_token(store)
    assert issued is not None
    with serve_in_thread(store) as url:
        yield url, issued.secret


def test_cli_tokens_and_submission_over_real_http(
    live_server: tuple[str, str], db_url: str, tmp_path: Path
) -> None:
    url, admin = live_server
    runner = CliRunner()
    created = runner.invoke(
        cli, ["server", "--db", db_url, "token", "create", "--role", "agent", "--name", "ci"]
    )
    assert created.exit_code == 0, created.output
    agent = created.stdout.strip().splitlines()[-1]
    assert agent.startswith("ymr_")

    image = "registry.example/web:2"
    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps(image_scan(image, [vuln_finding(image, "CVE-7", "curl")])))
    submitted = runner.invoke(
        cli, ["server", "submit", str(scan), "--kind", "image", "--server", url, "--token", agent]
    )
    assert submitted.exit_code == 0, submitted.output
    assert json.loads(submitted.stdout)["counts"]["new"] == 1

    answer = submit_scan(
        url, agent, posture_scan([posture_finding("s3.public", "arn:aws:s3:::b")]), kind="posture"
    )
    assert answer["counts"]["new"] == 1
    lines = b'{"time":"2030-01-01T00:00:00Z","rule":"r","priority":"Notice","output":"o"}\n'
    assert submit_scan(url, agent, lines, kind="alerts") == {"stored": 1}

    findings = httpx.get(f"{url}/api/v1/findings", headers=auth(admin)).json()
    assert findings["total"] == 2
    assert httpx.get(f"{url}/api/v1/findings", headers=auth(agent)).status_code == 403

    listed = runner.invoke(cli, ["server", "--db", db_url, "token", "list"])
    assert "ci" in listed.output and agent not in listed.output
    token_id = next(line.split()[0] for line in listed.output.splitlines() if " ci " in line)
    assert runner.invoke(cli, ["server", "--db", db_url, "token", "revoke", token_id]).exit_code == 0
    with pytest.raises(SubmitError, match="401"):
        submit_scan(url, agent, image_scan(image, []), kind="image", attempts=1)


def test_client_retries_then_gives_up() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503) if len(calls) < 3 else httpx.Response(201, json={"counts": {"new": 0}})

    answer = submit_scan(
        "http://server",
        "t",
        {"artifact": {"name": "x"}},
        backoff=0.01,
        transport=httpx.MockTransport(handler),
    )
    assert answer == {"counts": {"new": 0}} and len(calls) == 3
    port = free_port()  # nothing listens there
    with pytest.raises(SubmitError, match="gave up after 2 attempts"):
        submit_scan(f"http://127.0.0.1:{port}", "t", {}, attempts=2, backoff=0.01)


K8S_RULES = (
    Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "falco-rules" / "k8s_audit_rules.yaml"
)
EXEC_EVENT = Path(__file__).resolve().parents[1] / "fixtures" / "k8s-audit" / "pod-exec.json"


def test_commands_submit_with_server_and_token(live_server: tuple[str, str], tmp_path: Path) -> None:
    """`--server URL --token T` on a scan command and on `yamori detect`: the results arrive."""
    url, admin = live_server
    project = tmp_path / "proj"
    project.mkdir()
    (project / "requirements.txt").write_text("requests==2.19.0\n")
    runner = CliRunner()
    scanned = runner.invoke(cli, ["fs", str(project), "-f", "json", "-q", "--server", url, "--token", admin])
    assert scanned.exit_code == 0, scanned.stderr
    assert f"submitted to {url}" in scanned.stderr
    assets = httpx.get(f"{url}/api/v1/assets", headers=auth(admin), timeout=10).json()
    assert any(str(project) in a["name"] or str(project) in a["key"] for a in assets["items"])

    detected = runner.invoke(
        cli,
        ["detect", "--source", "k8s_audit", "--rules", str(K8S_RULES), "--input", str(EXEC_EVENT),
         "--server", url, "--token", admin],
    )  # fmt: skip
    assert detected.exit_code == 0, detected.stderr
    alerts = httpx.get(f"{url}/api/v1/alerts", headers=auth(admin), timeout=10).json()
    assert [a["rule"] for a in alerts["items"]] == ["Attach/Exec Pod"]


def test_server_sink_spools_while_the_server_is_away(live_server: tuple[str, str], tmp_path: Path) -> None:
    """No alert lost: sent to a closed port they go to the spool, and the next send replays them."""
    from yamori.detect.output import Alert
    from yamori.detect.sinks import ServerSink

    url, admin = live_server
    spool = tmp_path / "spool.jsonl"

    def alert(rule: str) -> Alert:
        return Alert(rule=rule, priority="Notice", source="k8s_audit", output=f"{rule} happened",
                     output_fields={}, tags=(), time=1_700_000_000_000_000_000)  # fmt: skip

    away = ServerSink(f"http://127.0.0.1:{free_port()}", admin, "node-1", spool=spool)
    away.send(alert("First"))
    away.send(alert("Second"))
    assert len(spool.read_text().splitlines()) == 2
    back = ServerSink(url, admin, "node-1", spool=spool)
    back.send(alert("Third"))
    back.close()
    assert not spool.exists()
    alerts = httpx.get(f"{url}/api/v1/alerts", headers=auth(admin), params={"limit": 10}, timeout=10).json()
    assert sorted(a["rule"] for a in alerts["items"]) == ["First", "Second", "Third"]


def test_iac_scan_submits_code_findings(live_server: tuple[str, str]) -> None:
    url, admin = live_server
    project = Path(__file__).resolve().parents[1] / "fixtures" / "iac-cli" / "tf"
    result = CliRunner().invoke(cli, ["iac", str(project), "-f", "json", "--server", url, "--token", admin])
    assert result.exit_code in (0, 1), result.stderr
    assert f"submitted to {url}" in result.stderr
    assets = httpx.get(
        f"{url}/api/v1/assets", headers=auth(admin), params={"kind": "code"}, timeout=10
    ).json()
    assert assets["total"] > 0
    assert all(a["kind"] == "code" for a in assets["items"])


def test_server_sink_replays_a_large_spool_in_chunks(
    live_server: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spool bigger than one request is sent in pieces, none of them over the limit, none lost."""
    from yamori.detect import sinks
    from yamori.detect.output import Alert

    url, admin = live_server
    spool = tmp_path / "spool.jsonl"
    monkeypatch.setattr(sinks, "SPOOL_CHUNK", 2048)  # a few alerts per request
    away = sinks.ServerSink(f"http://127.0.0.1:{free_port()}", admin, "node-1", spool=spool)
    alerts = [
        Alert(rule=f"R{i:03d}", priority="Notice", source="k8s_audit", output="x" * 200,
              output_fields={}, tags=(), time=1_700_000_000_000_000_000)
        for i in range(60)
    ]  # fmt: skip
    away.send_many(alerts)
    assert spool.stat().st_size > 4 * 2048
    back = sinks.ServerSink(url, admin, "node-1", spool=spool)
    bodies: list[int] = []
    real_post = back._post

    def recording_post(body: bytes) -> str | None:
        bodies.append(len(body))
        return real_post(body)

    monkeypatch.setattr(back, "_post", recording_post)
    back.close()  # close replays the spool
    assert not spool.exists()
    stored = httpx.get(f"{url}/api/v1/alerts", headers=auth(admin), params={"limit": 100}, timeout=10).json()
    assert sorted(a["rule"] for a in stored["items"]) == [f"R{i:03d}" for i in range(60)]
    assert len(bodies) > 4 and max(bodies) <= 2048 + 400  # several requests, none much over a chunk
