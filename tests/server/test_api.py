"""The REST API end to end over the store, once on SQLite and once on a real PostgreSQL.

Every test here runs on both backends (``db_url`` is parametrized in conftest), so a query or
migration that only works on one of them fails here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, update

from server.payloads import auth, image_scan, posture_finding, posture_scan, vuln_finding
from yamori.store import Store
from yamori.store.db import utcnow
from yamori.store.models import Base, FindingRecord

IMAGE = "registry.example/app:1"


def _findings(client: TestClient, token: str, **params: object) -> dict[str, object]:
    response = client.get("/api/v1/findings", params=params, headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _status_of(client: TestClient, token: str, rule: str) -> str:
    page = _findings(client, token, rule=rule)
    items = page["items"]
    assert isinstance(items, list) and len(items) == 1
    return str(items[0]["status"])


def test_migrations_create_the_model_schema(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    for name, table in Base.metadata.tables.items():
        columns = {c["name"] for c in inspect(store.engine).get_columns(name)}
        assert columns == set(table.columns.keys()), name


def test_health_needs_no_token_and_everything_else_does(client: TestClient) -> None:
    assert client.get("/api/v1/health").json()["status"] == "ok"
    for path in (
        "/api/v1/findings",
        "/api/v1/assets",
        "/api/v1/alerts",
        "/api/v1/summary",
        "/api/openapi.json",
    ):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"


def test_openapi_lists_the_versioned_routes(client: TestClient, tokens: dict[str, str]) -> None:
    doc = client.get("/api/openapi.json", headers=auth(tokens["viewer"])).json()
    assert "/api/v1/scans/image" in doc["paths"]
    assert "/api/v1/findings/{finding}/suppress" in doc["paths"]


def test_finding_lifecycle(client: TestClient, tokens: dict[str, str], store: Store) -> None:
    agent, analyst = tokens["agent"], tokens["analyst"]
    both = [vuln_finding(IMAGE, "CVE-1", "openssl"), vuln_finding(IMAGE, "CVE-2", "zlib", "CRITICAL")]
    only_first = both[:1]

    first = client.post("/api/v1/scans/image", json=image_scan(IMAGE, both), headers=auth(agent))
    assert first.status_code == 201, first.text
    assert first.json()["counts"]["new"] == 2

    # CVE-2 fixed: resolved.
    second = client.post("/api/v1/scans/image", json=image_scan(IMAGE, only_first), headers=auth(agent))
    assert second.json()["counts"]["resolved"] == 1
    assert _status_of(client, analyst, "CVE-2") == "resolved"

    # Back again: reopened, counted.
    third = client.post("/api/v1/scans/image", json=image_scan(IMAGE, both), headers=auth(agent))
    assert third.json()["counts"]["reopened"] == 1
    item = _findings(client, analyst, rule="CVE-2")["items"][0]  # type: ignore[index]
    assert item["status"] == "open" and item["reopened_count"] == 1 and item["resolved_at"] is None

    # Suppressed with an expiry: stays suppressed even when absent from a scan.
    until = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    pk = item["id"]
    response = client.post(
        f"/api/v1/findings/{pk}/suppress",
        json={"reason": "accepted: not reachable", "until": until},
        headers=auth(analyst),
    )
    assert response.status_code == 200, response.text
    assert response.json()["suppression"]["reason"] == "accepted: not reachable"
    client.post("/api/v1/scans/image", json=image_scan(IMAGE, only_first), headers=auth(agent))
    assert _status_of(client, analyst, "CVE-2") == "suppressed"
    client.post("/api/v1/scans/image", json=image_scan(IMAGE, both), headers=auth(agent))
    assert _status_of(client, analyst, "CVE-2") == "suppressed"

    # The expiry passes: the last scan saw it, so it is open again.
    with store.session() as session:
        session.execute(
            update(FindingRecord)
            .where(FindingRecord.id == pk)
            .values(suppressed_until=utcnow() - timedelta(seconds=1))
        )
    assert _status_of(client, analyst, "CVE-2") in ("suppressed", "open")  # reads do not write
    client.post("/api/v1/scans/image", json=image_scan(IMAGE, both), headers=auth(agent))
    assert _status_of(client, analyst, "CVE-2") == "open"

    detail = client.get(f"/api/v1/findings/{pk}", headers=auth(analyst)).json()
    transitions = [(h["from"], h["to"]) for h in detail["history"]]
    assert transitions == [
        (None, "open"),
        ("open", "resolved"),
        ("resolved", "open"),
        ("open", "suppressed"),
        ("suppressed", "open"),
    ]
    assert detail["history"][3]["actor"] == "test-analyst"
    assert detail["history"][4]["actor"] == "expiry"

    # By hand: resolve, then a scan that still sees it reopens it; reopen by hand too.
    assert client.post(f"/api/v1/findings/{pk}/resolve", headers=auth(analyst)).json()["status"] == "resolved"
    client.post("/api/v1/scans/image", json=image_scan(IMAGE, both), headers=auth(agent))
    assert _status_of(client, analyst, "CVE-2") == "open"
    client.post(f"/api/v1/findings/{pk}/resolve", json={"reason": "patched"}, headers=auth(analyst))
    reopened = client.post(f"/api/v1/findings/{pk}/reopen", headers=auth(analyst)).json()
    assert reopened["status"] == "open" and reopened["reopened_count"] == 3


def test_expired_suppression_of_a_gone_finding_resolves(
    client: TestClient, tokens: dict[str, str], store: Store
) -> None:
    agent = tokens["agent"]
    client.post(
        "/api/v1/scans/image",
        json=image_scan(IMAGE, [vuln_finding(IMAGE, "CVE-9", "a")]),
        headers=auth(agent),
    )
    pk = _findings(client, tokens["viewer"])["items"][0]["id"]  # type: ignore[index]
    client.post(
        f"/api/v1/findings/{pk}/suppress", json={"reason": "risk accepted"}, headers=auth(tokens["admin"])
    )
    client.post("/api/v1/scans/image", json=image_scan(IMAGE, []), headers=auth(agent))
    viewer = tokens["viewer"]
    assert _status_of(client, viewer, "CVE-9") == "suppressed"  # no expiry: stays
    with store.session() as session:
        session.execute(update(FindingRecord).values(suppressed_until=utcnow() - timedelta(seconds=1)))
    client.post("/api/v1/scans/image", json=image_scan("other:1", []), headers=auth(tokens["agent"]))
    assert _status_of(client, viewer, "CVE-9") == "resolved"


def test_same_payload_twice_changes_only_last_seen(client: TestClient, tokens: dict[str, str]) -> None:
    payload = image_scan(
        IMAGE, [vuln_finding(IMAGE, "CVE-1", "openssl"), vuln_finding(IMAGE, "CVE-2", "zlib")]
    )
    client.post("/api/v1/scans/image", json=payload, headers=auth(tokens["agent"]))
    before = _findings(client, tokens["viewer"], sort="id", order="asc")["items"]
    second = client.post("/api/v1/scans/image", json=payload, headers=auth(tokens["agent"])).json()
    assert second["counts"] | {"packages": 0} == {
        "assets": 1,
        "new": 0,
        "reopened": 0,
        "resolved": 0,
        "unchanged": 2,
        "suppressed": 0,
        "packages": 0,
    }
    after = _findings(client, tokens["viewer"], sort="id", order="asc")["items"]
    strip = [{k: v for k, v in f.items() if k != "last_seen"} for f in before]  # type: ignore[union-attr]
    assert strip == [{k: v for k, v in f.items() if k != "last_seen"} for f in after]  # type: ignore[union-attr]
    packages = client.get(
        f"/api/v1/assets/{before[0]['asset']['id']}/packages",
        headers=auth(tokens["viewer"]),  # type: ignore[index]
    ).json()
    assert packages["total"] == 3 and packages["items"][0]["in_use"] is None


def test_posture_scan_resolves_per_resource_and_ignores_errors(
    client: TestClient, tokens: dict[str, str]
) -> None:
    agent, viewer = tokens["agent"], tokens["viewer"]
    bucket, role = "arn:aws:s3:::logs", "arn:aws:iam::123456789012:role/admin"
    first = posture_scan(
        [
            posture_finding("s3.public", bucket),
            posture_finding("s3.versioning", bucket),
            posture_finding("iam.mfa", role, severity="HIGH"),
        ]
    )
    assert client.post("/api/v1/scans/posture", json=first, headers=auth(agent)).json()["counts"]["new"] == 3
    second = posture_scan(
        [
            posture_finding("s3.public", bucket, status="PASS"),  # fixed → resolved
            posture_finding("s3.versioning", bucket, status="ERROR"),  # could not check → unchanged
        ]
    )
    counts = client.post("/api/v1/scans/posture", json=second, headers=auth(agent)).json()["counts"]
    assert counts["resolved"] == 1
    assert _status_of(client, viewer, "s3.public") == "resolved"
    assert _status_of(client, viewer, "s3.versioning") == "open"
    assert _status_of(client, viewer, "iam.mfa") == "open"  # resource not in this scan: untouched
    assets = client.get(
        "/api/v1/assets",
        params={"kind": "cloud_resource", "sort": "name", "order": "asc"},
        headers=auth(viewer),
    ).json()
    assert [a["name"] for a in assets["items"]] == [role, bucket]
    assert assets["items"][0]["open_findings"] == {"HIGH": 1}


def test_alerts_json_lines_and_arrays_with_filters(client: TestClient, tokens: dict[str, str]) -> None:
    lines = "\n".join(
        json.dumps(
            {
                "hostname": "node1",
                "output": f"shell in {ns}",
                "output_fields": {"container.id": f"c{i}", "k8s.ns.name": ns},
                "priority": "Warning",
                "rule": "Terminal shell in container",
                "source": "syscall",
                "tags": ["shell"],
                "time": f"2030-01-0{i + 1}T10:00:00.123456789Z",
            }
        )
        for i, ns in enumerate(["prod", "dev", "prod"])
    )
    response = client.post(
        "/api/v1/alerts",
        content=lines,
        headers=auth(tokens["agent"]) | {"content-type": "application/x-ndjson"},
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"stored": 3}
    array = [
        {
            "time": 1_900_000_000_000_000_000,
            "rule": "Read sensitive file",
            "priority": "Error",
            "source": "syscall",
            "output": "cat /etc/shadow",
            "output_fields": {"container.name": "web"},
        }
    ]
    assert client.post("/api/v1/alerts", json=array, headers=auth(tokens["agent"])).json() == {"stored": 1}
    viewer = auth(tokens["viewer"])
    prod = client.get("/api/v1/alerts", params={"namespace": "prod"}, headers=viewer).json()
    assert prod["total"] == 2
    assert prod["items"][0]["time"] == "2030-01-03T10:00:00.123456789Z"  # newest first, nanoseconds kept
    assert client.get("/api/v1/alerts", params={"container": "web"}, headers=viewer).json()["total"] == 1
    assert (
        client.get("/api/v1/alerts", params={"priority": "error,warning"}, headers=viewer).json()["total"]
        == 4
    )
    since = client.get("/api/v1/alerts", params={"since": "2030-01-02T00:00:00Z"}, headers=viewer).json()
    assert since["total"] == 3  # two of the lines and the array one (2030-03-17)
    assert client.get("/api/v1/alerts", params={"q": "SHADOW"}, headers=viewer).json()["total"] == 1


def test_summary_counts_and_top_risks(client: TestClient, tokens: dict[str, str]) -> None:
    findings = [
        vuln_finding(IMAGE, "CVE-LOW", "a", "LOW"),
        vuln_finding(IMAGE, "CVE-CRIT", "b", "CRITICAL"),
        vuln_finding(IMAGE, "CVE-KEV", "c", "HIGH", kev=True),
    ]
    client.post("/api/v1/scans/image", json=image_scan(IMAGE, findings), headers=auth(tokens["agent"]))
    summary = client.get("/api/v1/summary", headers=auth(tokens["viewer"])).json()
    assert summary["findings"]["open_by_severity"] == {
        "UNKNOWN": 0,
        "LOW": 1,
        "MEDIUM": 0,
        "HIGH": 1,
        "CRITICAL": 1,
    }
    assert summary["findings"]["open_kev"] == 1
    assert [f["rule_id"] for f in summary["top_risks"]] == ["CVE-KEV", "CVE-CRIT", "CVE-LOW"]
    assert summary["assets"]["by_kind"] == {"image": 1}


def test_pagination_sorting_filters(client: TestClient, tokens: dict[str, str]) -> None:
    severities = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
    findings = [
        vuln_finding(
            IMAGE,
            f"CVE-{i:03d}",
            f"p{i}",
            severities[i % 4],
            kev=i % 10 == 0,
            fixed_versions=[] if i % 2 else ["2"],
        )
        for i in range(120)
    ]
    for finding in findings:
        if not finding["vulnerability"]["fixed_versions"]:
            finding["vulnerability"]["fix_state"] = "not_fixed"
    client.post("/api/v1/scans/image", json=image_scan(IMAGE, findings), headers=auth(tokens["agent"]))
    viewer = tokens["viewer"]
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = _findings(client, viewer, sort="rule", order="asc", limit=25, offset=offset)
        assert page["total"] == 120
        seen.extend(f["rule_id"] for f in page["items"])  # type: ignore[union-attr]
        offset = page["next_offset"]  # type: ignore[assignment]
    assert seen == sorted(f"CVE-{i:03d}" for i in range(120))
    first = _findings(client, viewer, sort="severity", order="desc", limit=5)["items"]
    assert {f["severity"] for f in first} == {"CRITICAL"}  # type: ignore[union-attr]
    assert _findings(client, viewer, severity="HIGH,CRITICAL")["total"] == 60
    assert _findings(client, viewer, kev="true")["total"] == 12
    assert _findings(client, viewer, fix_available="false")["total"] == 60
    assert _findings(client, viewer, q="cve-00")["total"] == 10
    assert _findings(client, viewer, q="p11")["total"] == 11  # p11, p110…p119 via package/title
    bad = client.get("/api/v1/findings", params={"sort": "password"}, headers=auth(viewer))
    assert bad.status_code == 422 and "cannot sort" in bad.json()["detail"]
    assert client.get("/api/v1/findings", params={"limit": 100000}, headers=auth(viewer)).status_code == 422


INJECTIONS = ["' OR '1'='1", "x'; DROP TABLE findings; --", "%", "_", '" OR 1=1 --', "\\", "CVE-1' --"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_sql_injection_in_filters_is_data(client: TestClient, tokens: dict[str, str], value: str) -> None:
    client.post(
        "/api/v1/scans/image",
        json=image_scan(IMAGE, [vuln_finding(IMAGE, "CVE-1", "a")]),
        headers=auth(tokens["agent"]),
    )
    viewer = tokens["viewer"]
    for param in ("q", "rule", "severity", "status", "kind"):
        assert _findings(client, viewer, **{param: value})["total"] == 0, param
    assert client.get("/api/v1/assets", params={"q": value}, headers=auth(viewer)).json()["total"] == 0
    assert (
        client.get("/api/v1/alerts", params={"q": value, "namespace": value}, headers=auth(viewer)).json()[
            "total"
        ]
        == 0
    )
    assert _findings(client, viewer)["total"] == 1  # the table is still there


def test_script_in_fields_is_stored_verbatim(client: TestClient, tokens: dict[str, str]) -> None:
    script = "<script>alert(document.cookie)</script>"
    finding = vuln_finding(IMAGE, "CVE-X", "a", title=script)
    client.post("/api/v1/scans/image", json=image_scan(IMAGE, [finding]), headers=auth(tokens["agent"]))
    assert _findings(client, tokens["viewer"])["items"][0]["title"] == script  # type: ignore[index]


def test_bad_input_changes_nothing(client: TestClient, tokens: dict[str, str]) -> None:
    agent = auth(tokens["agent"])
    client.post(
        "/api/v1/scans/image", json=image_scan(IMAGE, [vuln_finding(IMAGE, "CVE-1", "a")]), headers=agent
    )
    malformed = client.post(
        "/api/v1/scans/image",
        content=b'{"artifact": {"name": ',
        headers=agent | {"content-type": "application/json"},
    )
    assert malformed.status_code == 422
    assert "json" in malformed.json()["detail"].lower()
    wrong = image_scan(
        IMAGE, [vuln_finding(IMAGE, "CVE-2", "b"), vuln_finding(IMAGE, "CVE-3", "c", "SEVERE")]
    )
    invalid = client.post("/api/v1/scans/image", json=wrong, headers=agent)
    assert invalid.status_code == 422
    assert "findings.1.severity" in invalid.json()["detail"]
    bad_alerts = client.post(
        "/api/v1/alerts",
        content=b'{"rule":"a","priority":"Warning","time":"2030-01-01T00:00:00Z"}\n{oops',
        headers=agent,
    )
    assert bad_alerts.status_code == 400 and "line 2" in bad_alerts.json()["detail"]
    bad_time = client.post(
        "/api/v1/alerts", json=[{"rule": "a", "priority": "x", "time": "yesterday"}], headers=agent
    )
    assert bad_time.status_code == 422
    viewer = tokens["viewer"]
    assert [f["rule_id"] for f in _findings(client, viewer)["items"]] == ["CVE-1"]  # type: ignore[union-attr]
    assert client.get("/api/v1/alerts", headers=auth(viewer)).json()["total"] == 0
    assert client.get("/api/v1/scans", headers=auth(viewer)).json()["total"] == 1


def test_oversized_body_is_refused_before_reading(client: TestClient, tokens: dict[str, str]) -> None:
    big = b"[" + b" " * (3 * 1024 * 1024) + b"]"
    response = client.post("/api/v1/alerts", content=big, headers=auth(tokens["agent"]))
    assert response.status_code == 413

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b" " * (100 * 1024)

    streamed = client.post("/api/v1/alerts", content=chunks(), headers=auth(tokens["agent"]))
    assert streamed.status_code == 413


ENDPOINTS = {
    # class: (method, path, body) — the expected roles come from the auth design.
    "read": ("GET", "/api/v1/findings", None),
    "read-assets": ("GET", "/api/v1/assets", None),
    "read-alerts": ("GET", "/api/v1/alerts", None),
    "summary": ("GET", "/api/v1/summary", None),
    "submit": ("POST", "/api/v1/scans/image", image_scan("role-test:1", [])),
    "submit-alerts": ("POST", "/api/v1/alerts", []),
    "submit-workloads": ("POST", "/api/v1/scans/workloads", {"host": "role-test", "workloads": []}),
    "triage": ("POST", "/api/v1/findings/{pk}/resolve", {"reason": "x"}),
    "admin": ("GET", "/api/v1/tokens", None),
    "admin-retention": ("GET", "/api/v1/settings/retention", None),
}
ALLOWED = {
    "read": {"admin", "analyst", "viewer"},
    "read-assets": {"admin", "analyst", "viewer"},
    "read-alerts": {"admin", "analyst", "viewer"},
    "summary": {"admin", "analyst", "viewer"},
    "submit": {"admin", "agent"},
    "submit-alerts": {"admin", "agent"},
    "submit-workloads": {"admin", "agent"},
    "triage": {"admin", "analyst"},
    "admin": {"admin"},
    "admin-retention": {"admin"},
}


def test_auth_matrix(client: TestClient, tokens: dict[str, str]) -> None:
    client.post(
        "/api/v1/scans/image",
        json=image_scan(IMAGE, [vuln_finding(IMAGE, "CVE-1", "a")]),
        headers=auth(tokens["agent"]),
    )
    pk = _findings(client, tokens["viewer"])["items"][0]["id"]  # type: ignore[index]
    revoked = client.post(
        "/api/v1/tokens", json={"name": "gone", "role": "admin"}, headers=auth(tokens["admin"])
    ).json()
    assert client.delete(f"/api/v1/tokens/{revoked['id']}", headers=auth(tokens["admin"])).status_code == 200
    for klass, (method, path, body) in ENDPOINTS.items():
        url = path.format(pk=pk)
        for role, token in tokens.items():
            response = client.request(method, url, json=body, headers=auth(token))
            expected = (
                403
                if role not in ALLOWED[klass]
                else (
                    201
                    if (method == "POST" and "scans" in url) or (url.endswith("/alerts") and method == "POST")
                    else 200
                )
            )
            assert response.status_code == expected, (klass, role, response.text)
        for headers in (
            {},
            auth("ymr_nope_nope"),
            auth("garbage"),
            {"Authorization": "Basic abc"},
            auth(revoked["token"]),
        ):
            assert client.request(method, url, json=body, headers=headers).status_code == 401, (
                klass,
                headers,
            )


def test_tokens_are_hashed_listed_and_revocable(
    client: TestClient, tokens: dict[str, str], store: Store
) -> None:
    admin = auth(tokens["admin"])
    created = client.post("/api/v1/tokens", json={"name": "ci", "role": "agent"}, headers=admin)
    assert created.status_code == 201
    secret = created.json()["token"]
    listed = client.get("/api/v1/tokens", headers=admin).json()
    assert {t["name"] for t in listed} >= {"ci", "test-admin"}
    assert all("hash" not in t and "token" not in t for t in listed)
    with store.engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM api_tokens"))
    assert secret not in dump and secret.split("_", 2)[2] not in dump  # the secret part
    assert (
        client.post("/api/v1/scans/image", json=image_scan("x:1", []), headers=auth(secret)).status_code
        == 201
    )
    client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=admin)
    assert (
        client.post("/api/v1/scans/image", json=image_scan("x:1", []), headers=auth(secret)).status_code
        == 401
    )
    assert client.post("/api/v1/tokens", json={"name": "x", "role": "root"}, headers=admin).status_code == 422


def test_retention_purges_old_alerts(client: TestClient, tokens: dict[str, str]) -> None:
    admin = auth(tokens["admin"])
    old = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    new = datetime.now(UTC).isoformat()
    alerts = [
        {"time": old, "rule": "old", "priority": "Warning", "capture_ref": "cap/old.scap"},
        {
            "time": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
            "rule": "mid",
            "priority": "Warning",
            "capture_ref": "cap/mid.scap",
        },
        {"time": new, "rule": "new", "priority": "Warning", "capture_ref": "cap/new.scap"},
    ]
    client.post("/api/v1/alerts", json=alerts, headers=auth(tokens["agent"]))
    assert client.put(
        "/api/v1/settings/retention", json={"alerts_days": 5, "captures_days": 2}, headers=admin
    ).json() == {"alerts_days": 5, "captures_days": 2}
    assert client.post("/api/v1/retention/purge", headers=admin).json() == {
        "alerts_deleted": 1,
        "captures_dropped": 1,
    }
    left = client.get("/api/v1/alerts", headers=admin).json()["items"]
    assert {a["rule"]: a["capture_ref"] for a in left} == {"new": "cap/new.scap", "mid": None}
