"""The console's read-only pages: overview, inventory, assets, vulnerabilities, posture, alerts,
findings. Each is one query batch in one store session and one template.

Routes are plain ``def`` so FastAPI runs them in its thread pool: the store is synchronous.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from yamori.server.auth import TRIAGE
from yamori.server.console import data
from yamori.server.console.filters import alert_filter, number, params, text, vuln_filter
from yamori.server.console.render import render
from yamori.server.console.session import console_user
from yamori.store.db import Store
from yamori.store.models import ASSET_KINDS
from yamori.store.queries import (
    FindingFilter,
    asset_counts,
    asset_detail,
    finding_detail,
    list_alerts,
    list_assets,
    list_findings,
    list_packages,
    summary,
)
from yamori.store.tokens import Principal

router = APIRouter()
User = Annotated[Principal, Depends(console_user)]
KIND_LABELS = {
    "image": "Images",
    "host": "Hosts",
    "container": "Workloads",  # containers reported by `yamori workloads` / `yamori up`
    "cloud_resource": "Cloud resources",
    "k8s_object": "Kubernetes objects",
    "code": "Code",
}


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _page(request: Request, who: Principal, template: str, page: str, **context: Any) -> HTMLResponse:
    return render(request, template, {"user": who, "page": page, "can_triage": who.role in TRIAGE, **context})


@router.get("/")
def overview(request: Request, who: User) -> HTMLResponse:
    with _store(request).session() as session:
        points = data.trend(session)
        return _page(
            request,
            who,
            "overview.html",
            "overview",
            summary=summary(session, top=10),
            vulns=data.top_vulnerabilities(session),
            public=data.public_misconfigurations(session),
            alerts=data.recent_high_alerts(session),
            trend=points,
            chart=data.trend_bars(points),
        )


@router.get("/inventory")
def inventory(request: Request, who: User) -> HTMLResponse:
    kind = text(request, "kind") or "image"
    if kind not in ASSET_KINDS:
        kind = "image"
    page = max(1, number(request, "page"))
    with _store(request).session() as session:
        counts = asset_counts(session)  # the tab counts only: the full summary costs ~0.5 s
        listed = list_assets(
            session,
            kind=[kind],
            text=text(request, "q") or None,
            sort="name",
            order="asc",
            offset=(page - 1) * data.PAGE_SIZE,
            limit=data.PAGE_SIZE,
        )
    assets = data.Paged(listed.items, listed.total, page)
    return _page(
        request,
        who,
        "inventory.html",
        "inventory",
        kind=kind,
        kinds=KIND_LABELS,
        counts=counts,
        assets=assets,
        params=params(request),
    )


@router.get("/assets/{asset_id}")
def asset(request: Request, who: User, asset_id: int) -> HTMLResponse:
    page = max(1, number(request, "page"))
    with _store(request).session() as session:
        detail = asset_detail(session, asset_id)
        status = text(request, "status") or "open"
        findings = list_findings(
            session,
            FindingFilter(asset=asset_id, status=[] if status == "any" else [status]),
            offset=(page - 1) * data.PAGE_SIZE,
            limit=data.PAGE_SIZE,
        )
        packages = (
            list_packages(session, asset_id, text=None, offset=0, limit=500)
            if detail["kind"] in ("image", "host")
            else None
        )
        image = image_findings = None
        if detail["kind"] == "container":
            # a workload has no findings of its own: it shows those of the image it runs
            image = detail["links"]["image"]
            if image is not None:
                image_findings = list_findings(
                    session, FindingFilter(asset=image["id"], status=["open"]), limit=data.PAGE_SIZE
                ).to_json()
                packages = list_packages(session, image["id"], text=None, offset=0, limit=500)
    return _page(
        request,
        who,
        "asset.html",
        "inventory",
        asset=detail,
        status=status,
        findings=data.Paged(findings.items, findings.total, page),
        packages=packages.to_json() if packages else None,
        image=image,
        image_findings=image_findings,
        params=params(request),
    )


@router.get("/vulnerabilities")
def vulnerabilities(request: Request, who: User) -> HTMLResponse:
    filters = vuln_filter(request)
    group = text(request, "group")
    page = max(1, number(request, "page"))
    with _store(request).session() as session:
        if group in ("package", "cve"):
            rows = data.vulnerability_groups(session, filters, group, page)
        else:
            group = ""
            rows = data.vulnerabilities(session, filters, page)
        images = data.scanned_images(session)
    return _page(
        request,
        who,
        "vulnerabilities.html",
        "vulnerabilities",
        filters=filters,
        group=group,
        rows=rows,
        images=images,
        params=params(request),
    )


@router.get("/posture")
def posture(request: Request, who: User) -> HTMLResponse:
    selected = text(request, "control")
    framework = text(request, "framework")
    with _store(request).session() as session:
        controls = data.controls(session)
        frameworks = sorted({c.framework for c in controls if c.framework})
        if framework:
            controls = [c for c in controls if c.framework == framework]
        chosen = next((c for c in controls if c.ref == selected), None)
        findings = (
            data.control_findings(session, chosen.rules, max(1, number(request, "page"))) if chosen else None
        )
        resources = data.resources(session)
    return _page(
        request,
        who,
        "posture.html",
        "posture",
        controls=controls,
        frameworks=frameworks,
        framework=framework,
        chosen=chosen,
        findings=findings,
        resources=resources,
        params=params(request),
    )


@router.get("/alerts")
def alerts(request: Request, who: User) -> HTMLResponse:
    filters = alert_filter(request)
    with _store(request).session() as session:
        listed = list_alerts(session, filters, sort="id", order="desc", limit=100)
        rules = data.alert_rules(session)
    items = listed.items
    return _page(
        request,
        who,
        "alerts.html",
        "alerts",
        alerts=items,
        total=listed.total,
        rules=rules,
        last_id=max((a["id"] for a in items), default=0),
        filters={
            "rule": text(request, "rule"),
            "priority": text(request, "priority"),
            "container": text(request, "container"),
            "namespace": text(request, "namespace"),
        },
    )


@router.get("/findings/{finding_id}")
def finding(request: Request, who: User, finding_id: int) -> HTMLResponse:
    with _store(request).session() as session:
        detail = finding_detail(session, finding_id)
    return _page(request, who, "finding.html", "", finding=detail, error=text(request, "error"))
