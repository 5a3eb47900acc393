"""SNS: topics with their attributes (policies parsed) and their subscriptions.

Subscriptions come from one account-wide ``ListSubscriptions`` per region, grouped by topic,
instead of ``ListSubscriptionsByTopic`` per topic. A confirmed subscription has an ARN as
``SubscriptionArn``; an unconfirmed one has ``PendingConfirmation``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import jsonable, parse_policy
from yamori.sources.aws.interface import CallFailed, CollectContext, Collector

__all__ = ["SnsCollector"]

TOPIC = "aws.sns.topic"
_JSON_ATTRIBUTES = ("Policy", "EffectiveDeliveryPolicy", "DeliveryPolicy")


class SnsCollector(Collector):
    service: ClassVar[str] = "sns"
    scope = "regional"
    kinds: ClassVar[tuple[str, ...]] = (TOPIC,)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        topics = ctx.paginate("sns", "list_topics", "Topics")
        subscriptions: dict[str, list[Any]] | None = None
        subscriptions_error = ""
        try:
            listed = ctx.paginate("sns", "list_subscriptions", "Subscriptions")
        except CallFailed as exc:
            subscriptions_error = str(exc)
        else:
            subscriptions = {}
            for sub in listed:
                subscriptions.setdefault(str(sub.get("TopicArn")), []).append(jsonable(sub))
        for topic in topics:
            arn = str(topic["TopicArn"])
            resource = Resource(
                kind=TOPIC,
                id=arn,
                name=arn.rsplit(":", 1)[-1],
                attributes={"TopicArn": arn},
                account=ctx.account,
                region=ctx.region,
            )
            try:
                attributes = ctx.call("sns", "get_topic_attributes", TopicArn=arn).get("Attributes") or {}
            except CallFailed as exc:
                resource.errors["Attributes"] = str(exc)
            else:
                resource.attributes["Attributes"] = {
                    k: parse_policy(v) if k in _JSON_ATTRIBUTES else v for k, v in attributes.items()
                }
            if subscriptions is None:
                resource.errors["Subscriptions"] = subscriptions_error
            else:
                resource.attributes["Subscriptions"] = subscriptions.get(arn, [])
            yield resource
