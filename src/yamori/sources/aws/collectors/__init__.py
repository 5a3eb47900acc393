"""AWS collectors, one module per service (registered in ``sources/aws/registry.py``).

The helpers here keep every collector's output in the one shape policies expect (see
``docs/aws-resources.md``): attribute values are plain JSON (datetimes as RFC 3339 UTC strings,
policy documents parsed), tags a flat dict, and each optional per-resource call either gives a
value, ``None`` for an expected "not configured" answer, or an entry in ``Resource.errors``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote

from yamori.model.resource import Resource
from yamori.sources.aws.interface import CallFailed, CollectContext

__all__ = [
    "each_listing",
    "fetch",
    "fetch_list",
    "jsonable",
    "parse_policy",
    "rfc3339",
    "strip_metadata",
    "tag_dict",
]


def rfc3339(value: datetime | date) -> str:
    """``2024-05-01T12:00:00Z`` (naive datetimes are taken as UTC, as botocore gives them)."""
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def jsonable(value: Any) -> Any:
    """A copy of an API answer made of JSON values only (datetimes -> RFC 3339, bytes -> text)."""
    if isinstance(value, (datetime, date)):
        return rfc3339(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value


def strip_metadata(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The answer without botocore's ``ResponseMetadata`` and pagination tokens, made JSON."""
    drop = {"ResponseMetadata", "NextToken", "nextToken", "Marker", "IsTruncated"}
    return {k: jsonable(v) for k, v in answer.items() if k not in drop}


def parse_policy(document: Any) -> Any:
    """A policy document as parsed JSON.

    IAM returns documents URL-encoded (botocore usually decodes them already), S3/SNS/KMS as JSON
    strings; a document that cannot be parsed is kept as the string, so nothing is lost.
    """
    if not isinstance(document, str):
        return jsonable(document)
    text = document.strip()
    for candidate in (text, unquote(text)):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return document


def tag_dict(tags: Iterable[Mapping[str, Any]] | Mapping[str, Any] | None) -> dict[str, str]:
    """``[{"Key": k, "Value": v}]`` (any capitalisation) or a mapping -> ``{k: v}``."""
    if not tags:
        return {}
    if isinstance(tags, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in tags.items()}
    out: dict[str, str] = {}
    for tag in tags:
        key = tag.get("Key", tag.get("key", tag.get("TagKey")))
        if key is None:
            continue
        value = tag.get("Value", tag.get("value", tag.get("TagValue")))
        out[str(key)] = "" if value is None else str(value)
    return out


def fetch(
    ctx: CollectContext,
    resource: Resource,
    attribute: str,
    service: str,
    operation: str,
    extract: Callable[[dict[str, Any]], Any],
    *,
    not_configured: Collection[str] = (),
    **params: Any,
) -> bool:
    """Fill ``resource.attributes[attribute]`` from one per-resource call.

    ``extract`` maps the answer to the value; an error whose code is in ``not_configured`` sets
    the value ``None`` (the setting does not exist — a fact, not a failure); any other failure is
    recorded in ``resource.errors[attribute]`` and the attribute is left out. Returns whether the
    attribute was set.
    """
    try:
        answer = ctx.call(service, operation, **params)
    except CallFailed as exc:
        if exc.code in not_configured:
            resource.attributes[attribute] = None
            return True
        resource.errors[attribute] = str(exc)
        return False
    resource.attributes[attribute] = extract(answer)
    return True


def fetch_list(
    ctx: CollectContext,
    resource: Resource,
    attribute: str,
    service: str,
    operation: str,
    result_key: str,
    *,
    not_configured: Collection[str] = (),
    **params: Any,
) -> bool:
    """``fetch`` for a paginated listing: the attribute is the list of all items (as JSON)."""
    try:
        items = ctx.paginate(service, operation, result_key, **params)
    except CallFailed as exc:
        if exc.code in not_configured:
            resource.attributes[attribute] = None
            return True
        resource.errors[attribute] = str(exc)
        return False
    resource.attributes[attribute] = jsonable(items)
    return True


Lister = Callable[[CollectContext], Iterable[Resource]]


def each_listing(ctx: CollectContext, listings: Iterable[tuple[str, Lister]]) -> Iterator[Resource]:
    """Resources of several kinds, one listing each: a listing that fails is recorded for its kind
    alone (``listing_failed``) and the others still run — one denied API never hides the rest."""
    for kind, lister in listings:
        try:
            found = list(lister(ctx))
        except CallFailed as exc:
            ctx.listing_failed(kind, exc)
            continue
        yield from found
