"""CloudWatch: metric alarms (and composite alarms), each with its actions, so a CIS 4.x policy
can follow metric filter -> metric -> alarm -> SNS topic."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import jsonable
from yamori.sources.aws.interface import CollectContext, Collector

__all__ = ["CloudWatchCollector"]

ALARM = "aws.cloudwatch.alarm"
COMPOSITE_ALARM = "aws.cloudwatch.composite_alarm"


class CloudWatchCollector(Collector):
    service: ClassVar[str] = "cloudwatch"
    scope = "regional"
    kinds: ClassVar[tuple[str, ...]] = (ALARM, COMPOSITE_ALARM)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        # One listing for both alarm types: DescribeAlarms pages carry MetricAlarms and
        # CompositeAlarms side by side (``ctx.paginate`` keeps a single result key, so page here).
        params: dict[str, Any] = {"AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
        while True:
            page = ctx.call("cloudwatch", "describe_alarms", **params)
            for kind, key in ((ALARM, "MetricAlarms"), (COMPOSITE_ALARM, "CompositeAlarms")):
                for alarm in page.get(key) or []:
                    yield Resource(
                        kind=kind,
                        id=str(alarm["AlarmArn"]),
                        name=str(alarm.get("AlarmName", "")),
                        attributes=jsonable(alarm),
                        account=ctx.account,
                        region=ctx.region,
                    )
            if not page.get("NextToken"):
                return
            params["NextToken"] = page["NextToken"]
