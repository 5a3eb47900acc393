"""CloudTrail: trails with their logging status and event selectors, in their home region.

``DescribeTrails(includeShadowTrails=False)`` in each region returns only the trails created
there, so a multi-region trail appears once (in its home region) and "is there a logging
multi-region trail?" is a question over the account's trails, not per region.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import jsonable, tag_dict
from yamori.sources.aws.interface import CallFailed, CollectContext, Collector

__all__ = ["CloudTrailCollector"]

TRAIL = "aws.cloudtrail.trail"
TAG_BATCH = 20  # ListTags takes at most 20 trail ARNs


class CloudTrailCollector(Collector):
    service: ClassVar[str] = "cloudtrail"
    scope = "regional"
    kinds: ClassVar[tuple[str, ...]] = (TRAIL,)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        trails = ctx.call("cloudtrail", "describe_trails", includeShadowTrails=False).get("trailList") or []
        resources = [_trail(ctx, trail) for trail in trails]
        _tags(ctx, resources)
        yield from resources


def _trail(ctx: CollectContext, trail: dict[str, Any]) -> Resource:
    arn = str(trail["TrailARN"])
    resource = Resource(
        kind=TRAIL,
        id=arn,
        name=str(trail.get("Name", "")),
        attributes=jsonable(trail),
        account=ctx.account,
        region=str(trail.get("HomeRegion") or ctx.region),
    )
    try:
        status = ctx.call("cloudtrail", "get_trail_status", Name=arn)
    except CallFailed as exc:
        resource.errors["IsLogging"] = str(exc)
        resource.errors["Status"] = str(exc)
    else:
        resource.attributes["IsLogging"] = bool(status.get("IsLogging"))
        resource.attributes["Status"] = jsonable({k: v for k, v in status.items() if k != "ResponseMetadata"})
    try:
        selectors = ctx.call("cloudtrail", "get_event_selectors", TrailName=arn)
    except CallFailed as exc:
        resource.errors["EventSelectors"] = str(exc)
        resource.errors["AdvancedEventSelectors"] = str(exc)
    else:
        resource.attributes["EventSelectors"] = jsonable(selectors.get("EventSelectors") or [])
        resource.attributes["AdvancedEventSelectors"] = jsonable(
            selectors.get("AdvancedEventSelectors") or []
        )
    return resource


def _tags(ctx: CollectContext, trails: list[Resource]) -> None:
    for start in range(0, len(trails), TAG_BATCH):
        batch = trails[start : start + TAG_BATCH]
        try:
            answer = ctx.call("cloudtrail", "list_tags", ResourceIdList=[t.id for t in batch])
        except CallFailed as exc:
            for trail in batch:
                trail.errors["Tags"] = str(exc)
            continue
        found = {
            str(item.get("ResourceId")): item.get("TagsList") for item in answer.get("ResourceTagList") or []
        }
        for trail in batch:
            trail.tags = tag_dict(found.get(trail.id))
