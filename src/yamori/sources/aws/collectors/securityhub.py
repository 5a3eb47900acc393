"""Security Hub per region, as the synthetic ``aws.securityhub.settings`` (always emitted).

``DescribeHub`` answers the hub when the account is subscribed in the region; the
``InvalidAccessException`` "not subscribed" answer is a fact (``Hub`` None), not an error. When
subscribed, ``GetEnabledStandards`` lists the standards subscriptions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import fetch, fetch_list
from yamori.sources.aws.collectors._regional import settings_id, without
from yamori.sources.aws.interface import CollectContext, Collector, Scope

__all__ = ["SecurityHubCollector"]

SERVICE = "securityhub"
NOT_SUBSCRIBED = ("InvalidAccessException",)


class SecurityHubCollector(Collector):
    service: ClassVar[str] = SERVICE
    scope: ClassVar[Scope] = "regional"
    kinds: ClassVar[tuple[str, ...]] = ("aws.securityhub.settings",)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        res = Resource(kind="aws.securityhub.settings", id=settings_id(ctx, SERVICE), name=ctx.region)
        fetch(ctx, res, "Hub", SERVICE, "describe_hub", without, not_configured=NOT_SUBSCRIBED)
        if "Hub" not in res.attributes:
            res.errors["EnabledStandards"] = res.errors["Hub"]
        elif res.attributes["Hub"] is None:
            res.attributes["EnabledStandards"] = None
        else:
            fetch_list(
                ctx, res, "EnabledStandards", SERVICE, "get_enabled_standards", "StandardsSubscriptions"
            )
        yield res
