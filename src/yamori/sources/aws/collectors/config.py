"""AWS Config: one ``aws.config.settings`` resource per account and region, always emitted —
"is Config recording here?" must be answerable (as "no") where nothing is configured."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import fetch, jsonable
from yamori.sources.aws.collectors._regional import settings_id
from yamori.sources.aws.interface import CollectContext, Collector

__all__ = ["ConfigCollector"]

SETTINGS = "aws.config.settings"


class ConfigCollector(Collector):
    service: ClassVar[str] = "config"
    scope = "regional"
    kinds: ClassVar[tuple[str, ...]] = (SETTINGS,)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        resource = Resource(
            kind=SETTINGS,
            id=settings_id(ctx, "config"),
            name=ctx.region,
            account=ctx.account,
            region=ctx.region,
        )
        for attribute, operation, key in (
            ("ConfigurationRecorders", "describe_configuration_recorders", "ConfigurationRecorders"),
            (
                "ConfigurationRecordersStatus",
                "describe_configuration_recorder_status",
                "ConfigurationRecordersStatus",
            ),
            ("DeliveryChannels", "describe_delivery_channels", "DeliveryChannels"),
        ):
            fetch(ctx, resource, attribute, "config", operation, _listed(key))
        yield resource


def _listed(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda answer: jsonable(answer.get(key) or [])
