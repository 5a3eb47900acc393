"""Assets (images, hosts, workloads, cloud resources, Kubernetes objects, IaC code) with their
open-finding counts and SBOMs. A workload (kind ``container``) also answers ``links``: the image
asset it runs and its host asset."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from yamori.server.api.deps import Reader, StoreDep, csv
from yamori.store.queries import asset_detail, list_assets, list_packages

router = APIRouter(tags=["assets"])


@router.get("/assets")
def assets(
    _who: Reader,
    store: StoreDep,
    kind: Annotated[
        list[str] | None,
        Query(
            description="image, host, container (a workload: `yamori workloads`), cloud_resource, "
            "k8s_object (a Kubernetes object), code (an IaC resource)"
        ),
    ] = None,
    q: Annotated[str | None, Query(description="text in the name or key")] = None,
    sort: str = "last_seen",
    order: str = "desc",
    offset: int = 0,
    limit: int = 50,
) -> dict[str, Any]:
    with store.session() as session:
        return list_assets(
            session, kind=csv(kind), text=q, sort=sort, order=order, offset=offset, limit=limit
        ).to_json()


@router.get("/assets/{asset}")
def asset(asset: int, _who: Reader, store: StoreDep) -> dict[str, Any]:
    with store.session() as session:
        return asset_detail(session, asset)


@router.get("/assets/{asset}/packages")
def packages(
    asset: int, _who: Reader, store: StoreDep, q: str | None = None, offset: int = 0, limit: int = 100
) -> dict[str, Any]:
    with store.session() as session:
        return list_packages(session, asset, text=q, offset=offset, limit=limit).to_json()
