"""RDS: DB instances, DB clusters (Aurora, Multi-AZ clusters) and manual DB snapshots.

Instances and clusters are one listing each per region and the answers already carry everything
the CIS controls read (``StorageEncrypted``, ``PubliclyAccessible``, ``AutoMinorVersionUpgrade``,
tags in ``TagList``). Whether a snapshot is public needs ``DescribeDBSnapshotAttributes`` per
snapshot; it is asked only for *manual* snapshots, the only ones that can be shared (automated
snapshots cannot), so the cost is one call per manual snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import each_listing, fetch, jsonable, tag_dict
from yamori.sources.aws.collectors._regional import without
from yamori.sources.aws.interface import CollectContext, Collector, Scope

__all__ = ["RdsCollector"]

SERVICE = "rds"


class RdsCollector(Collector):
    service: ClassVar[str] = SERVICE
    scope: ClassVar[Scope] = "regional"
    kinds: ClassVar[tuple[str, ...]] = ("aws.rds.db_instance", "aws.rds.db_cluster", "aws.rds.db_snapshot")

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        listings: tuple[tuple[str, Callable[[CollectContext], Iterable[Resource]]], ...] = (
            ("aws.rds.db_instance", db_instances),
            ("aws.rds.db_cluster", db_clusters),
            ("aws.rds.db_snapshot", db_snapshots),
        )
        yield from each_listing(ctx, listings)


def _resource(kind: str, item: dict[str, Any], arn_key: str, name_key: str) -> Resource:
    return Resource(
        kind=kind,
        id=str(item[arn_key]),
        name=str(item.get(name_key) or item[arn_key]),
        attributes=without(item, "TagList"),
        tags=tag_dict(item.get("TagList")),
    )


def db_instances(ctx: CollectContext) -> Iterator[Resource]:
    for db in ctx.paginate(SERVICE, "describe_db_instances", "DBInstances"):
        yield _resource("aws.rds.db_instance", db, "DBInstanceArn", "DBInstanceIdentifier")


def db_clusters(ctx: CollectContext) -> Iterator[Resource]:
    for cluster in ctx.paginate(SERVICE, "describe_db_clusters", "DBClusters"):
        yield _resource("aws.rds.db_cluster", cluster, "DBClusterArn", "DBClusterIdentifier")


def db_snapshots(ctx: CollectContext) -> Iterator[Resource]:
    """Manual snapshots with ``DBSnapshotAttributes`` (``[{AttributeName: "restore",
    AttributeValues: ["all"]}]`` means public)."""
    for snap in ctx.paginate(SERVICE, "describe_db_snapshots", "DBSnapshots", SnapshotType="manual"):
        res = _resource("aws.rds.db_snapshot", snap, "DBSnapshotArn", "DBSnapshotIdentifier")
        fetch(
            ctx,
            res,
            "DBSnapshotAttributes",
            SERVICE,
            "describe_db_snapshot_attributes",
            lambda a: jsonable(a.get("DBSnapshotAttributesResult", {}).get("DBSnapshotAttributes", [])),
            DBSnapshotIdentifier=snap["DBSnapshotIdentifier"],
        )
        yield res
