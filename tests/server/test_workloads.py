"""Workloads (containers reported by ``yamori workloads``) and the admin endpoints, through the
API on SQLite and on a real PostgreSQL (``db_url`` is parametrized in conftest)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from server.payloads import auth, image_scan, vuln_finding, workload, workload_report
from yamori.server import ServerSettings, create_app
from yamori.store import Store
from yamori.store.ingest import ingest_alerts
from yamori.store.payloads import AlertPayload

IMAGE = "registry.example/shop/web:1"
IMAGE_ID = "sha256:" + "1f" * 32
WEB = "a1" * 32
DEBUG = "b2" * 32
XSS = "<script>alert(1)</script>"


def _image(name: str = IMAGE) -> dict[str, Any]:
    scan = image_scan(name, [vuln_finding(name, "CVE-2024-1", "openssl", "CRITICAL")])
    scan["artifact"]["image_id"] = IMAGE_ID
    return scan


def _containers(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/assets", params={"kind": "container", **params}, headers=auth(token))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_workloads_link_to_image_host_and_alerts(client: TestClient, tokens: dict[str, str]) -> None:
    agent, viewer = auth(tokens["agent"]), tokens["viewer"]
    assert client.post("/api/v1/scans/image", json=_image(), headers=agent).status_code == 201
    host = image_scan("node-1", [], 1)
    host["artifact"]["type"] = "host"
    assert client.post("/api/v1/scans/image", json=host, headers=agent).status_code == 201
    report = workload_report(
        "node-1",
        [
            # a newer tag of the same content: the image id finds the scanned image
            workload(
                WEB,
                "web",
                "registry.example/shop/web:1.0.1",
                image_id=IMAGE_ID,
                labels={"io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "web-1", "x": XSS},
            ),
            workload(DEBUG, XSS, "registry.example/debug:latest", privileged=True),
        ],
    )
    answer = client.post("/api/v1/scans/workloads", json=report, headers=agent)
    assert answer.status_code == 201, answer.text
    counts = answer.json()["counts"]
    assert (counts["workloads"], counts["new_workloads"], counts["not_running"]) == (2, 2, 0)

    listed = {w["key"]: w for w in _containers(client, viewer)}
    assert set(listed) == {WEB, DEBUG}
    assert listed[DEBUG]["name"] == XSS  # stored verbatim; the console escapes it
    assert listed[WEB]["attributes"]["namespace"] == "shop" and listed[WEB]["attributes"]["pod"] == "web-1"
    assert listed[DEBUG]["attributes"]["privileged"] is True
    assert listed[WEB]["attributes"]["labels"]["x"] == XSS
    web = client.get(f"/api/v1/assets/{listed[WEB]['id']}", headers=auth(viewer)).json()
    assert web["links"]["image"]["name"] == IMAGE and web["links"]["image"]["matched_by"] == "image id"
    assert web["links"]["host"]["name"] == "node-1"
    debug = client.get(f"/api/v1/assets/{listed[DEBUG]['id']}", headers=auth(viewer)).json()
    assert debug["links"] == {"image": None, "host": web["links"]["host"]}
    assert _containers(client, viewer, q="shop") == []  # q matches names and keys only
    assert [w["key"] for w in _containers(client, viewer, q=WEB[:12])] == [WEB]

    alerts = [
        {"time": "2030-01-01T00:00:00Z", "rule": "r1", "priority": "Error", "output_fields": fields}
        for fields in (
            {"container.id": WEB[:12], "container.name": "web"},  # Falco's short id
            {"container.id": DEBUG},  # a full id
            {"container.id": "host"},
            {},
        )
    ]
    assert client.post("/api/v1/alerts", json=alerts, headers=agent).status_code == 201
    got = client.get("/api/v1/alerts", params={"sort": "id", "order": "asc"}, headers=auth(viewer)).json()
    assert [a["workload_id"] for a in got["items"]] == [listed[WEB]["id"], listed[DEBUG]["id"], None, None]

    # The next report no longer lists the debug container: kept, but not running. Once.
    again = workload_report("node-1", [report["workloads"][0]])
    counts = client.post("/api/v1/scans/workloads", json=again, headers=agent).json()["counts"]
    assert (counts["workloads"], counts["new_workloads"], counts["not_running"]) == (1, 0, 1)
    counts = client.post("/api/v1/scans/workloads", json=again, headers=agent).json()["counts"]
    assert counts["not_running"] == 0
    states = {w["key"]: w["attributes"]["state"] for w in _containers(client, viewer)}
    assert states == {WEB: "running", DEBUG: "not running"}
    # another host's report leaves node-1's containers alone
    other = workload_report("node-2", [workload("c3" * 32, "batch", "busybox:1")])
    assert (
        client.post("/api/v1/scans/workloads", json=other, headers=agent).json()["counts"]["not_running"] == 0
    )
    assert len(_containers(client, viewer)) == 3
    runs = client.get("/api/v1/scans", params={"kind": "workloads"}, headers=auth(viewer)).json()
    assert runs["total"] == 4 and runs["items"][0]["target"] == "node-2"


def test_bad_workload_reports_change_nothing(client: TestClient, tokens: dict[str, str]) -> None:
    agent = auth(tokens["agent"])
    good = workload("d4" * 32, "ok", "busybox:1")
    for body, where in (
        ({"workloads": [good]}, "body.host"),
        (workload_report("n", [good, {"name": "no id"}]), "body.workloads.1.id"),
        (workload_report("n", [good | {"privileged": "very"}]), "body.workloads.0.privileged"),
        (workload_report("n", [good | {"labels": {"a": ["not", "text"]}}]), "body.workloads.0.labels.a"),
    ):
        answer = client.post("/api/v1/scans/workloads", json=body, headers=agent)
        assert answer.status_code == 422 and where in answer.json()["detail"], answer.text
    assert _containers(client, tokens["viewer"]) == []
    assert (
        client.post("/api/v1/scans/workloads", json=workload_report("n", []), headers=agent).status_code
        == 201
    )


ADMIN_WRITES = (
    ("PUT", "/api/v1/settings/retention", {"alerts_days": 9}),
    ("POST", "/api/v1/retention/purge", None),
    ("POST", "/api/v1/tokens", {"name": "x", "role": "viewer"}),
    ("DELETE", "/api/v1/tokens/1", None),
)


def test_admin_actions_need_an_admin(client: TestClient, tokens: dict[str, str]) -> None:
    for method, path, body in ADMIN_WRITES:
        assert client.request(method, path, json=body).status_code == 401, path
        for role in ("analyst", "viewer", "agent"):
            answer = client.request(method, path, json=body, headers=auth(tokens[role]))
            assert answer.status_code == 403, (path, role)
    retention = client.get("/api/v1/settings/retention", headers=auth(tokens["admin"])).json()
    assert retention == {"alerts_days": 30, "captures_days": 7}  # none of the refused writes landed


def _old_alert(store: Store, days: int) -> None:
    when = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    with store.session() as session:
        ingest_alerts(session, [AlertPayload(time=when, rule=f"{days} days old", priority="Notice")])


def _rules(store: Store) -> set[str]:
    from sqlalchemy import select

    from yamori.store.models import AlertRecord

    with store.session() as session:
        return set(session.scalars(select(AlertRecord.rule)))


def test_retention_is_enforced_at_start_and_on_a_timer(store: Store) -> None:
    _old_alert(store, 40)
    _old_alert(store, 1)
    create_app(ServerSettings(purge_interval=0), store=store)
    assert _rules(store) == {"1 days old"}  # purged at start (30 days by default)

    app = create_app(ServerSettings(purge_on_start=False, purge_interval=0.2), store=store)
    with TestClient(app):
        _old_alert(store, 45)  # arrives while serving (a late sensor), past retention
        deadline = time.monotonic() + 10
        while "45 days old" in _rules(store):
            assert time.monotonic() < deadline, "the retention timer never purged"
            time.sleep(0.1)
    assert _rules(store) == {"1 days old"}
