"""Small helpers shared by the regional collectors (EC2, RDS, EFS, KMS, ECS, EKS, ECR, Lambda,
Security Hub, Access Analyzer): turning boto3 answers into plain JSON-like attributes, and turning
one failed per-resource call into ``Resource.errors`` instead of a lost resource.

The JSON conversions (``jsonable``, ``parse_policy``, ``tag_dict``) live in the package
``__init__`` and are shared with the account-wide collectors; this module adds what the regional
ones need on top: ARNs built for APIs that return only ids, the settings-resource id, and
``fill`` helpers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yamori.sources.aws.collectors import jsonable
from yamori.sources.aws.interface import CollectContext

__all__ = ["arn", "name_tag", "partition", "settings_id", "without"]


def partition(region: str) -> str:
    """The ARN partition of ``region`` (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def arn(ctx: CollectContext, service: str, resource: str, *, account: str | None = None) -> str:
    """An ARN built for APIs that return only an id (``arn:aws:ec2:REGION:ACCOUNT:vpc/vpc-1``)."""
    owner = ctx.account if account is None else account
    return f"arn:{partition(ctx.region)}:{service}:{ctx.region}:{owner}:{resource}"


def settings_id(ctx: CollectContext, service: str) -> str:
    """The id of the synthetic per-region settings resource: ``arn:aws:SERVICE:REGION:ACCOUNT:settings``."""
    return arn(ctx, service, "settings")


def name_tag(tags: Mapping[str, str], default: str = "") -> str:
    """The ``Name`` tag, or ``default``."""
    return tags.get("Name") or default


def without(item: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """``item`` as JSON values, minus ``keys`` (tags travel in ``Resource.tags``, not attributes)."""
    return {k: jsonable(v) for k, v in item.items() if k not in keys and k != "ResponseMetadata"}
