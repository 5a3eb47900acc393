"""Generic hooks that prove the mechanism and serve simple joins.

``references_existing_resource``: the value(s) at ``attr`` must name existing resources of
``kind`` (by id or name) in the same account — e.g. "the trail's ``CloudWatchLogsLogGroupArn``
names a log group we collected". Absent or empty → NOT_APPLICABLE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yamori.model.finding import Status
from yamori.model.resource import UNKNOWN, Resource
from yamori.policy.hooks.registry import register_hook
from yamori.policy.interface import ABSENT, CheckResult
from yamori.policy.inventory import Inventory
from yamori.policy.paths import read_attribute

__all__ = ["references_existing_resource"]


@register_hook(
    "references_existing_resource",
    params={"attr": str, "kind": str, "same_account": bool},
    required=("attr", "kind"),
)
def references_existing_resource(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """PASS when every value at ``attr`` is the id or name of a ``kind`` resource."""
    path, kind = args["attr"], args["kind"]
    value = read_attribute(resource, path)
    if value is UNKNOWN:
        return CheckResult(Status.UNKNOWN, f"{path} is unknown")
    if value is ABSENT or value in (None, "", []):
        return CheckResult(Status.NOT_APPLICABLE, f"{path} is not set")
    refs = value if isinstance(value, list) else [value]
    if any(ref is UNKNOWN for ref in refs):
        return CheckResult(Status.UNKNOWN, f"{path} has unknown elements")
    account = resource.account if args.get("same_account", True) else None
    known: set[str] = set()
    for candidate in inventory.by_kind(kind, account):
        known.add(candidate.id)
        if candidate.name:
            known.add(candidate.name)
    missing = [str(ref) for ref in refs if str(ref) not in known]
    if missing:
        return CheckResult(Status.FAIL, f"{path} names no collected {kind}: {', '.join(missing)}",
                           {"missing": missing})  # fmt: skip
    return CheckResult(Status.PASS, f"every {path} names a collected {kind}", {"references": refs})
