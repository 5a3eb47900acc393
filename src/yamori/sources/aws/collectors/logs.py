"""CloudWatch Logs: log groups and metric filters (CIS 4.x: a metric filter on the CloudTrail
log group, an alarm on its metric, a subscribed SNS topic).

Metric filters have no ARN; their id is ``<log group ARN>:metric-filter:<filter name>``, unique
because filter names are unique within a log group. Attributes keep the Logs API's camelCase.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import jsonable
from yamori.sources.aws.collectors._regional import partition
from yamori.sources.aws.interface import CallFailed, CollectContext, Collector

__all__ = ["LogsCollector", "log_group_arn"]

LOG_GROUP = "aws.logs.log_group"
METRIC_FILTER = "aws.logs.metric_filter"


def log_group_arn(region: str, account: str, name: str) -> str:
    """The log group's ARN without the trailing ``:*`` DescribeLogGroups adds to ``arn``."""
    return f"arn:{partition(region)}:logs:{region}:{account}:log-group:{name}"


class LogsCollector(Collector):
    service: ClassVar[str] = "logs"
    scope = "regional"
    kinds: ClassVar[tuple[str, ...]] = (LOG_GROUP, METRIC_FILTER)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        try:
            groups = ctx.paginate("logs", "describe_log_groups", "logGroups")
        except CallFailed as exc:
            ctx.listing_failed(LOG_GROUP, exc)
        else:
            for group in groups:
                name = str(group["logGroupName"])
                yield Resource(
                    kind=LOG_GROUP,
                    id=log_group_arn(ctx.region, ctx.account, name),
                    name=name,
                    attributes=jsonable(group),
                    account=ctx.account,
                    region=ctx.region,
                )
        try:
            filters = ctx.paginate("logs", "describe_metric_filters", "metricFilters")
        except CallFailed as exc:
            ctx.listing_failed(METRIC_FILTER, exc)
            return
        for item in filters:
            group_arn = log_group_arn(ctx.region, ctx.account, str(item.get("logGroupName", "")))
            name = str(item.get("filterName", ""))
            yield Resource(
                kind=METRIC_FILTER,
                id=f"{group_arn}:metric-filter:{name}",
                name=name,
                attributes=jsonable(item),
                account=ctx.account,
                region=ctx.region,
            )
