"""EKS clusters: ``ListClusters`` then one ``DescribeCluster`` per cluster (the listing answers
names only). The answer carries what the posture checks read: ``resourcesVpcConfig``
(``endpointPublicAccess``, ``endpointPrivateAccess``, ``publicAccessCidrs``), ``logging.clusterLogging``,
``encryptionConfig`` (absent from the API answer when secrets encryption is off: stored as None),
``version`` and the tags.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import tag_dict
from yamori.sources.aws.collectors._regional import arn, without
from yamori.sources.aws.interface import CallFailed, CollectContext, Collector, Scope

__all__ = ["EksCollector"]

SERVICE = "eks"
KIND = "aws.eks.cluster"


class EksCollector(Collector):
    service: ClassVar[str] = SERVICE
    scope: ClassVar[Scope] = "regional"
    kinds: ClassVar[tuple[str, ...]] = (KIND,)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        names = ctx.paginate(SERVICE, "list_clusters", "clusters")
        found: list[Resource] = []
        for name in names:
            try:
                cluster = ctx.call(SERVICE, "describe_cluster", name=name)["cluster"]
            except CallFailed as exc:
                found.append(
                    Resource(
                        kind=KIND, id=arn(ctx, SERVICE, f"cluster/{name}"), name=name, errors={"*": str(exc)}
                    )
                )
                continue
            attributes = without(cluster, "tags")
            if not attributes.get("encryptionConfig"):
                attributes["encryptionConfig"] = None  # absent or [] both mean "not configured"
            found.append(
                Resource(
                    kind=KIND,
                    id=cluster.get("arn") or arn(ctx, SERVICE, f"cluster/{name}"),
                    name=name,
                    attributes=attributes,
                    tags=tag_dict(cluster.get("tags")),
                )
            )
        yield from found
