"""Scan submissions (agents, admins) and the scan-run log (readers).

A submission is one transaction: a payload that fails validation or storage changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from yamori.server.api.deps import Reader, StoreDep, Submitter, csv
from yamori.store.ingest import ingest_image_scan, ingest_posture_scan, ingest_workloads
from yamori.store.payloads import ImageScanPayload, PostureScanPayload, WorkloadReportPayload
from yamori.store.queries import list_scan_runs

router = APIRouter(tags=["scans"])


@router.post("/scans/image", status_code=201)
def submit_image(payload: ImageScanPayload, who: Submitter, store: StoreDep) -> dict[str, Any]:
    """An image/host scan as ``yamori image -f json`` prints it."""
    with store.session() as session:
        run, counts = ingest_image_scan(session, payload, source=who.name)
        return {"scan_run": run.id, "counts": counts.to_json()}


@router.post("/scans/posture", status_code=201)
def submit_posture(payload: PostureScanPayload, who: Submitter, store: StoreDep) -> dict[str, Any]:
    """A cloud posture scan as ``yamori cloud aws -f json`` prints it."""
    with store.session() as session:
        run, counts = ingest_posture_scan(session, payload, source=who.name)
        return {"scan_run": run.id, "counts": counts.to_json()}


@router.post("/scans/workloads", status_code=201)
def submit_workloads(payload: WorkloadReportPayload, who: Submitter, store: StoreDep) -> dict[str, Any]:
    """A host's containers as ``yamori workloads -f json`` prints them (assets of kind
    ``container``; the host's containers it does not list become ``not running``)."""
    with store.session() as session:
        run, counts = ingest_workloads(session, payload, source=who.name)
        return {"scan_run": run.id, "counts": counts.to_json()}


@router.get("/scans")
def scans(
    _who: Reader,
    store: StoreDep,
    kind: Annotated[list[str] | None, Query()] = None,
    offset: int = 0,
    limit: int = 50,
) -> dict[str, Any]:
    with store.session() as session:
        return list_scan_runs(session, kind=csv(kind), offset=offset, limit=limit).to_json()
