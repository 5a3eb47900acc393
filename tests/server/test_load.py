"""Scale: 100,000 findings stored through the normal ingestion path; paginated, filtered and
sorted queries still answer correctly (no timing assertion: machines differ)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from server.payloads import auth, posture_finding, posture_scan

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


def test_100k_findings_paginate(client: TestClient, tokens: dict[str, str], store: object) -> None:
    from yamori.store import Store
    from yamori.store.ingest import ingest_posture_scan
    from yamori.store.payloads import PostureScanPayload

    assert isinstance(store, Store)
    findings = [
        posture_finding(f"rule.{i % 100:03d}", f"arn:aws:s3:::bucket-{i // 100}", severity=SEVERITIES[i % 4])
        for i in range(100_000)
    ]
    payload = PostureScanPayload.model_validate(posture_scan(findings))
    with store.session() as session:
        _run, counts = ingest_posture_scan(session, payload, source="load-test")
    assert counts.new == 100_000 and counts.assets == 1000

    viewer = auth(tokens["viewer"])
    page = client.get(
        "/api/v1/findings", params={"limit": 1000, "offset": 99_500, "sort": "id"}, headers=viewer
    ).json()
    assert page["total"] == 100_000 and len(page["items"]) == 500 and page["next_offset"] is None
    critical = client.get(
        "/api/v1/findings",
        params={"severity": "CRITICAL", "sort": "last_seen", "limit": 100, "offset": 20_000},
        headers=viewer,
    ).json()
    assert critical["total"] == 25_000 and len(critical["items"]) == 100
    text = client.get("/api/v1/findings", params={"q": "bucket-999", "limit": 10}, headers=viewer).json()
    assert text["total"] == 100
    summary = client.get("/api/v1/summary", headers=viewer).json()
    assert summary["findings"]["open_by_severity"]["HIGH"] == 25_000
    assets = client.get("/api/v1/assets", params={"limit": 1000, "sort": "name"}, headers=viewer).json()
    assert assets["total"] == 1000 and sum(assets["items"][0]["open_findings"].values()) == 100
