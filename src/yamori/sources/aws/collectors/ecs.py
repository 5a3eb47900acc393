"""ECS clusters and the latest ACTIVE revision of every task definition family.

Clusters: ``ListClusters`` then ``DescribeClusters`` in batches of 100 with settings
(``containerInsights``), configuration and tags. Task definitions: ``ListTaskDefinitionFamilies
status=ACTIVE`` then one ``DescribeTaskDefinition`` per family (naming the family answers its
latest ACTIVE revision — the one new tasks run; older revisions are history, not posture).

Container environment *values* are never stored (they routinely hold passwords and tokens):
``containerDefinitions[].environment`` is the list of variable names only. ``secrets`` stay as
they are (``name`` and ``valueFrom``, a reference to Secrets Manager / SSM, not the secret).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import jsonable, tag_dict
from yamori.sources.aws.collectors._regional import arn, without
from yamori.sources.aws.interface import CallFailed, CollectContext, Collector, Scope

__all__ = ["EcsCollector", "redact_container"]

SERVICE = "ecs"
BATCH = 100  # DescribeClusters takes at most 100 clusters


def redact_container(container: dict[str, Any]) -> dict[str, Any]:
    """A container definition as JSON, its ``environment`` reduced to the variable names."""
    out: dict[str, Any] = jsonable(container)
    out["environment"] = [str(e.get("name", "")) for e in container.get("environment") or []]
    for absent_means_none in ("privileged", "user", "readonlyRootFilesystem"):
        out.setdefault(absent_means_none, None)
    return out


class EcsCollector(Collector):
    service: ClassVar[str] = SERVICE
    scope: ClassVar[Scope] = "regional"
    kinds: ClassVar[tuple[str, ...]] = ("aws.ecs.cluster", "aws.ecs.task_definition")

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        found: list[Resource] = []
        try:
            found.extend(clusters(ctx))
        except CallFailed as exc:
            ctx.listing_failed("aws.ecs.cluster", exc)
        try:
            found.extend(task_definitions(ctx))
        except CallFailed as exc:
            ctx.listing_failed("aws.ecs.task_definition", exc)
        yield from found


def _cluster_name(cluster_arn: str) -> str:
    return cluster_arn.rsplit("/", 1)[-1]


def clusters(ctx: CollectContext) -> list[Resource]:
    arns = ctx.paginate(SERVICE, "list_clusters", "clusterArns")
    out: list[Resource] = []
    for start in range(0, len(arns), BATCH):
        batch = arns[start : start + BATCH]
        try:
            answer = ctx.call(
                SERVICE,
                "describe_clusters",
                clusters=batch,
                include=["SETTINGS", "CONFIGURATIONS", "TAGS"],
            )
        except CallFailed as exc:
            out.extend(
                Resource(kind="aws.ecs.cluster", id=a, name=_cluster_name(a), errors={"*": str(exc)})
                for a in batch
            )
            continue
        for cluster in answer.get("clusters") or []:
            attributes = without(cluster, "tags")
            attributes.setdefault("settings", [])  # asked for: absent means none set
            out.append(
                Resource(
                    kind="aws.ecs.cluster",
                    id=cluster["clusterArn"],
                    name=cluster.get("clusterName") or _cluster_name(cluster["clusterArn"]),
                    attributes=attributes,
                    tags=tag_dict(cluster.get("tags")),
                )
            )
        for failure in answer.get("failures") or []:
            a = str(failure.get("arn", ""))
            message = f"{failure.get('reason', 'Failure')}: {failure.get('detail') or 'ecs:DescribeClusters'}"
            out.append(Resource(kind="aws.ecs.cluster", id=a, name=_cluster_name(a), errors={"*": message}))
    return out


def task_definitions(ctx: CollectContext) -> list[Resource]:
    families = ctx.paginate(SERVICE, "list_task_definition_families", "families", status="ACTIVE")
    out: list[Resource] = []
    for family in families:
        try:
            answer = ctx.call(SERVICE, "describe_task_definition", taskDefinition=family, include=["TAGS"])
        except CallFailed as exc:
            out.append(
                Resource(
                    kind="aws.ecs.task_definition",
                    id=arn(ctx, SERVICE, f"task-definition/{family}"),
                    name=family,
                    errors={"*": str(exc)},
                )
            )
            continue
        task = answer["taskDefinition"]
        attributes = jsonable(task)
        for absent_means_none in ("networkMode", "pidMode", "ipcMode", "taskRoleArn", "executionRoleArn"):
            attributes.setdefault(absent_means_none, None)
        attributes["containerDefinitions"] = [
            redact_container(c) for c in task.get("containerDefinitions") or []
        ]
        out.append(
            Resource(
                kind="aws.ecs.task_definition",
                id=task["taskDefinitionArn"],
                name=f"{task.get('family', family)}:{task.get('revision', '')}",
                attributes=attributes,
                tags=tag_dict(answer.get("tags")),
            )
        )
    return out
