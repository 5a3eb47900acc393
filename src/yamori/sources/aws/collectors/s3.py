"""S3: buckets (listed once per account, configuration read in each bucket's own region) and the
account-level public access block (``aws.s3.account_settings``).

Why per-bucket calls go to the bucket's region: a client in another region gets a 301 for every
call and botocore has to retry it in the right region — twice the calls and latency. The region
comes from ``ListBuckets``' ``BucketRegion`` when AWS returns it (since 2024), else from
``GetBucketLocation``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import fetch, jsonable, parse_policy, strip_metadata, tag_dict
from yamori.sources.aws.interface import CallFailed, CollectContext, Collector

__all__ = ["S3Collector", "bucket_region", "in_region", "strip_account_host_prefix"]

BUCKET = "aws.s3.bucket"
ACCOUNT_SETTINGS = "aws.s3.account_settings"

# (attribute, operation, extract, "not configured" error codes)
_BUCKET_CALLS: tuple[tuple[str, str, Callable[[dict[str, Any]], Any], tuple[str, ...]], ...] = (
    ("Policy", "get_bucket_policy", lambda r: parse_policy(r.get("Policy")), ("NoSuchBucketPolicy",)),
    ("Acl", "get_bucket_acl", strip_metadata, ()),
    (
        "PublicAccessBlockConfiguration",
        "get_public_access_block",
        lambda r: jsonable(r.get("PublicAccessBlockConfiguration")),
        ("NoSuchPublicAccessBlockConfiguration",),
    ),
    (
        "ServerSideEncryptionConfiguration",
        "get_bucket_encryption",
        lambda r: jsonable(r.get("ServerSideEncryptionConfiguration")),
        ("ServerSideEncryptionConfigurationNotFoundError",),
    ),
    (
        "Versioning",
        "get_bucket_versioning",
        lambda r: {"Status": r.get("Status"), "MFADelete": r.get("MFADelete")},
        (),
    ),
    ("Logging", "get_bucket_logging", lambda r: {"LoggingEnabled": jsonable(r.get("LoggingEnabled"))}, ()),
    (
        "OwnershipControls",
        "get_bucket_ownership_controls",
        lambda r: jsonable(r.get("OwnershipControls")),
        ("OwnershipControlsNotFoundError",),
    ),
)


class S3Collector(Collector):
    service: ClassVar[str] = "s3"
    scope = "global"
    kinds: ClassVar[tuple[str, ...]] = (BUCKET, ACCOUNT_SETTINGS)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        yield _account_settings(ctx)
        try:
            buckets = ctx.paginate("s3", "list_buckets", "Buckets")
        except CallFailed as exc:
            ctx.listing_failed(BUCKET, exc)
            return
        for bucket in buckets:
            yield _bucket(ctx, bucket)


def bucket_region(location: str | None) -> str:
    """GetBucketLocation's ``LocationConstraint`` as a region (None is us-east-1, EU is eu-west-1)."""
    if not location:
        return "us-east-1"
    if location == "EU":
        return "eu-west-1"
    return location


def _bucket(ctx: CollectContext, listed: dict[str, Any]) -> Resource:
    name = str(listed["Name"])
    resource = Resource(
        kind=BUCKET,
        id=f"arn:aws:s3:::{name}",
        name=name,
        attributes={"Name": name, "CreationDate": jsonable(listed.get("CreationDate"))},
        account=ctx.account,
        region=ctx.region,
    )
    region = listed.get("BucketRegion")
    if region:
        resource.attributes["BucketRegion"] = str(region)
    else:
        try:
            answer = ctx.call("s3", "get_bucket_location", Bucket=name)
        except CallFailed as exc:
            # Keep going from the home region (botocore follows S3's region redirects).
            resource.errors["BucketRegion"] = str(exc)
        else:
            region = bucket_region(answer.get("LocationConstraint"))
            resource.attributes["BucketRegion"] = region
    if region:
        resource.region = str(region)
    here = in_region(ctx, resource.region)
    for attribute, operation, extract, absent in _BUCKET_CALLS:
        fetch(here, resource, attribute, "s3", operation, extract, not_configured=absent, Bucket=name)
    try:
        tags = here.call("s3", "get_bucket_tagging", Bucket=name).get("TagSet")
    except CallFailed as exc:
        if exc.code != "NoSuchTagSet":
            resource.errors["Tags"] = str(exc)
    else:
        resource.tags = tag_dict(tags)
    return resource


def in_region(ctx: CollectContext, region: str) -> CollectContext:
    """The same context aimed at the bucket's region (shared counters, limits and error list)."""
    if not region or region == ctx.region:
        return ctx
    return ctx.in_region(region)


def _account_settings(ctx: CollectContext) -> Resource:
    resource = Resource(
        kind=ACCOUNT_SETTINGS,
        id=f"arn:aws:s3::{ctx.account}:account-settings",
        name=ctx.account,
        account=ctx.account,
    )
    strip_account_host_prefix(ctx.client("s3control"))
    fetch(
        ctx,
        resource,
        "PublicAccessBlockConfiguration",
        "s3control",
        "get_public_access_block",
        lambda r: jsonable(r.get("PublicAccessBlockConfiguration")),
        not_configured=("NoSuchPublicAccessBlockConfiguration",),
        AccountId=ctx.account,
    )
    return resource


def strip_account_host_prefix(client: Any) -> None:
    """Send S3 Control calls to the endpoint override itself, not ``<account>.<endpoint>``.

    botocore puts the account id in front of the S3 Control host (``123456789012.s3-control.
    us-east-1.amazonaws.com``). With an endpoint override (moto in tests, LocalStack, a proxy) the
    result — ``123456789012.127.0.0.1`` — resolves nowhere. This hook, registered once per client
    (``unique_id``), removes that prefix only when the rest of the host is the override's host,
    so calls to real AWS endpoints are untouched. It runs before signing, so the signature covers
    the host actually used.
    """
    endpoint = urlsplit(str(getattr(client.meta, "endpoint_url", "") or ""))
    if not endpoint.hostname or endpoint.hostname.endswith(".amazonaws.com"):
        return
    override = endpoint.netloc

    def strip(request: Any, **_: Any) -> None:
        url = urlsplit(request.url)
        prefix, dot, rest = url.netloc.partition(".")
        if dot and rest == override and prefix.isdigit():
            request.url = urlunsplit(url._replace(netloc=override))
            if "host" in request.headers:
                request.headers.replace_header("host", override)

    client.meta.events.register("before-sign.s3-control", strip, unique_id="yamori-s3control-host-prefix")
