"""Hooks for CIS AWS Foundations v3.0 sections 1 (IAM) and 2 (storage): the checks that compare
two timestamps of one resource, read a policy document statement by statement, or join a bucket
to its account's settings — what the condition language cannot express.

``iam_access_key_from_user_setup_unused`` (CIS 1.11) — an *active* access key that was created
within ``window_hours`` of its user (the console's "create user" wizard offered one) and has never
been used. The credential report has no key creation date, so CIS's command-line audit falls back
to "never used"; the live ``AccessKeys`` carry ``CreateDate``, so we can make the console audit's
comparison (user creation time vs key creation time). Keys that are merely unused are 1.12's
business.

``s3_bucket_denies_insecure_transport`` (CIS 2.1.1) — the bucket policy has a statement that
denies plain-HTTP requests to everyone for every S3 action on the bucket's objects:

- ``Effect: Deny``; ``Principal`` ``"*"`` or ``{"AWS": "*"}`` (no ``NotPrincipal``);
- ``Action`` covering ``s3:*`` (``"s3:*"`` or ``"*"``; no ``NotAction``) — a deny of
  ``s3:GetObject`` alone still lets writes and listings go over HTTP, so it is reported as partial
  and FAILs;
- ``Resource`` covering ``<bucket ARN>/*`` (no ``NotResource``);
- ``Condition`` exactly ``{"Bool" | "BoolIfExists": {"aws:SecureTransport": "false"}}``: any other
  condition narrows the deny to some requests only.

``s3_bucket_public_access_blocked`` / ``s3_account_public_access_blocked`` (CIS 2.1.4) — the four
Block Public Access flags must all be on, for each bucket either on the bucket itself or for the
whole account (S3 applies the more restrictive of the two). The account-level check passes when
the account-level block is complete, and otherwise when every bucket of the account blocks by
itself (then nothing relies on the missing account setting); it lists the buckets left exposed.

``UNKNOWN`` values (unresolved infrastructure-as-code) give UNKNOWN; an attribute the collector
could not read gives ERROR (``CollectionFailed``), never PASS.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, Final

from yamori.model.finding import Status
from yamori.model.resource import UNKNOWN, Resource
from yamori.policy.hooks.iam import parse_document
from yamori.policy.hooks.registry import register_hook
from yamori.policy.interface import ABSENT, CheckResult
from yamori.policy.inventory import Inventory
from yamori.policy.paths import CollectionFailed, read_attribute

__all__ = [
    "PUBLIC_ACCESS_BLOCK_FLAGS",
    "iam_access_key_from_user_setup_unused",
    "s3_account_public_access_blocked",
    "s3_bucket_denies_insecure_transport",
    "s3_bucket_public_access_blocked",
    "statement_denies_insecure_transport",
]

PUBLIC_ACCESS_BLOCK_FLAGS: Final = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
S3_BUCKET: Final = "aws.s3.bucket"
S3_ACCOUNT_SETTINGS: Final = "aws.s3.account_settings"


def _as_list(value: Any) -> list[Any]:
    if value is None or value is ABSENT:
        return []
    return value if isinstance(value, list) else [value]


def _has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    return False


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- CIS 1.11 --------------------------------------------------------------------------------


@register_hook(
    "iam_access_key_from_user_setup_unused",
    params={"window_hours": (int, float)},
)
def iam_access_key_from_user_setup_unused(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """FAIL when an active access key created within ``window_hours`` (default 24) of the user has
    never been used. Reads ``CreateDate`` and ``AccessKeys``."""
    window = float(args.get("window_hours", 24)) * 3600.0
    created_raw = read_attribute(resource, "CreateDate")
    keys = read_attribute(resource, "AccessKeys")
    if _has_unknown(created_raw) or _has_unknown(keys):
        return CheckResult(Status.UNKNOWN, "CreateDate or AccessKeys is unknown")
    if keys is ABSENT or not keys:
        return CheckResult(Status.PASS, "the user has no access keys")
    if not isinstance(keys, list):
        raise ValueError("AccessKeys is not a list")
    created = _parse_time(created_raw)
    if created is None:
        return CheckResult(Status.UNKNOWN, f"user CreateDate {created_raw!r} is not a timestamp")
    offending: list[str] = []
    for key in keys:
        if not isinstance(key, dict) or key.get("Status") != "Active":
            continue
        last_used = key.get("AccessKeyLastUsed")
        if isinstance(last_used, dict) and last_used.get("LastUsedDate"):
            continue
        key_created = _parse_time(key.get("CreateDate"))
        if key_created is None:
            return CheckResult(Status.UNKNOWN, f"key {key.get('AccessKeyId')} has no readable CreateDate")
        if abs((key_created - created).total_seconds()) <= window:
            offending.append(str(key.get("AccessKeyId", "?")))
    if offending:
        return CheckResult(
            Status.FAIL,
            f"access key(s) {', '.join(offending)} were created with the user and never used",
            {"keys": offending},
        )
    return CheckResult(Status.PASS, "no unused access key from the user's initial setup")


# --- CIS 2.1.1 -------------------------------------------------------------------------------


def _principal_is_everyone(statement: Mapping[str, Any]) -> bool:
    if "NotPrincipal" in statement:
        return False
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in _as_list(principal.get("AWS"))


def _condition_is_insecure_transport(condition: Any) -> bool:
    """Exactly one test: ``Bool``/``BoolIfExists`` ``aws:SecureTransport`` = false."""
    if not isinstance(condition, dict) or len(condition) != 1:
        return False
    [(operator, tests)] = condition.items()
    if operator not in ("Bool", "BoolIfExists") or not isinstance(tests, dict) or len(tests) != 1:
        return False
    [(key, value)] = tests.items()
    values = _as_list(value)
    return (
        key.lower() == "aws:securetransport"
        and bool(values)
        and all(str(v).lower() == "false" for v in values)
    )


def statement_denies_insecure_transport(statement: Any, bucket_arn: str) -> tuple[bool, str]:
    """``(True, "")`` when the statement denies every S3 action over plain HTTP to everyone on the
    bucket's objects; ``(False, reason)`` otherwise (reason "" when it is not about HTTP at all)."""
    if not isinstance(statement, dict) or statement.get("Effect") != "Deny":
        return False, ""
    if not _condition_is_insecure_transport(statement.get("Condition")):
        return False, ""
    if not _principal_is_everyone(statement):
        return False, "does not apply to every principal"
    if "NotAction" in statement:
        return False, "uses NotAction"
    actions = [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]
    if not any(fnmatchcase("s3:*", a.lower()) for a in actions):
        return False, f"denies only {', '.join(actions) or 'no action'}, not s3:*"
    if "NotResource" in statement:
        return False, "uses NotResource"
    objects = f"{bucket_arn}/*"
    resources = [r for r in _as_list(statement.get("Resource")) if isinstance(r, str)]
    if not any(fnmatchcase(objects, r) for r in resources):
        return False, f"does not cover the bucket's objects ({objects})"
    return True, ""


@register_hook("s3_bucket_denies_insecure_transport")
def s3_bucket_denies_insecure_transport(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """PASS when the bucket ``Policy`` denies all S3 actions over HTTP (``aws:SecureTransport``
    false) to every principal on the bucket's objects. Semantics in the module docstring."""
    raw = read_attribute(resource, "Policy")
    if raw is UNKNOWN:
        return CheckResult(Status.UNKNOWN, "Policy is unknown")
    if raw is ABSENT or raw is None:
        return CheckResult(Status.FAIL, "the bucket has no bucket policy", {"policy": None})
    document = parse_document(raw)
    if not isinstance(document, dict):
        raise ValueError("bucket policy is not a JSON object")
    statements = document.get("Statement")
    if _has_unknown(statements):
        return CheckResult(Status.UNKNOWN, "the bucket policy has unknown parts")
    bucket_arn = resource.id if resource.id.startswith("arn:") else f"arn:aws:s3:::{resource.name}"
    partial: list[dict[str, str]] = []
    for index, statement in enumerate(_as_list(statements)):
        label = str(statement.get("Sid") or f"Statement[{index}]") if isinstance(statement, dict) else ""
        ok, reason = statement_denies_insecure_transport(statement, bucket_arn)
        if ok:
            return CheckResult(Status.PASS, f"{label} denies requests without TLS", {"statement": label})
        if reason:
            partial.append({"statement": label, "reason": reason})
    if partial:
        return CheckResult(
            Status.FAIL,
            "the bucket policy's aws:SecureTransport deny is incomplete: "
            + "; ".join(f"{p['statement']} {p['reason']}" for p in partial),
            {"partial": partial},
        )
    return CheckResult(Status.FAIL, "no statement denies requests with aws:SecureTransport false")


# --- CIS 2.1.4 -------------------------------------------------------------------------------


def _block_state(resource: Resource) -> tuple[bool | None, str]:
    """``(True, "")`` all four flags on, ``(False, why)`` not, ``(None, why)`` unknown.
    Raises ``CollectionFailed`` when the configuration could not be read."""
    config = read_attribute(resource, "PublicAccessBlockConfiguration")
    if config is UNKNOWN:
        return None, "PublicAccessBlockConfiguration is unknown"
    if config is ABSENT or config is None:
        return False, "no Block Public Access configuration"
    if not isinstance(config, dict):
        raise ValueError("PublicAccessBlockConfiguration is not an object")
    off = [flag for flag in PUBLIC_ACCESS_BLOCK_FLAGS if config.get(flag) is not True]
    if any(config.get(flag) is UNKNOWN for flag in off):
        return None, "a Block Public Access flag is unknown"
    if off:
        return False, f"off: {', '.join(off)}"
    return True, ""


def _checked(resource: Resource) -> tuple[Status, str]:
    """PASS/FAIL/UNKNOWN/ERROR of one resource's own four flags, with the reason."""
    try:
        state, why = _block_state(resource)
    except CollectionFailed as exc:
        return Status.ERROR, str(exc)
    if state is None:
        return Status.UNKNOWN, why
    return (Status.PASS, "") if state else (Status.FAIL, why)


@register_hook("s3_bucket_public_access_blocked")
def s3_bucket_public_access_blocked(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """PASS when all four Block Public Access flags are on for the bucket, or for its account
    (``aws.s3.account_settings`` of the same account)."""
    bucket_status, bucket_why = _checked(resource)
    if bucket_status is Status.PASS:
        return CheckResult(Status.PASS, "blocked by the bucket's own settings", {"level": "bucket"})
    settings = inventory.by_kind(S3_ACCOUNT_SETTINGS, resource.account)
    account_status, account_why = Status.FAIL, "account settings not collected"
    for candidate in settings:
        account_status, account_why = _checked(candidate)
        if account_status is Status.PASS:
            return CheckResult(Status.PASS, "blocked by the account's settings", {"level": "account"})
    if not settings and any(e.account == resource.account for e in inventory.errors_for(S3_ACCOUNT_SETTINGS)):
        account_status, account_why = Status.ERROR, "account settings could not be listed"
    evidence = {"bucket": bucket_why, "account": account_why}
    for status in (Status.ERROR, Status.UNKNOWN):
        if status in (bucket_status, account_status):
            why = bucket_why if bucket_status is status else account_why
            return CheckResult(status, why, evidence)
    return CheckResult(
        Status.FAIL,
        f"public access is not fully blocked (bucket: {bucket_why}; account: {account_why})",
        evidence,
    )


@register_hook("s3_account_public_access_blocked")
def s3_account_public_access_blocked(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """PASS when the account-level Block Public Access has all four flags on, or else every bucket
    of the account has them on by itself; FAIL lists the buckets left without a complete block."""
    state, why = _block_state(resource)  # CollectionFailed -> ERROR
    if state is None:
        return CheckResult(Status.UNKNOWN, why)
    if state:
        return CheckResult(Status.PASS, "all four flags are on for the account", {"level": "account"})
    incomplete = f"account-level block incomplete ({why})"
    if any(e.account == resource.account for e in inventory.errors_for(S3_BUCKET)):
        return CheckResult(Status.ERROR, f"{incomplete} and buckets could not be listed")
    exposed: list[str] = []
    errored: list[str] = []
    unknown: list[str] = []
    buckets = inventory.by_kind(S3_BUCKET, resource.account)
    for bucket in buckets:
        status, _ = _checked(bucket)
        if status is Status.FAIL:
            exposed.append(bucket.name or bucket.id)
        elif status is Status.ERROR:
            errored.append(bucket.name or bucket.id)
        elif status is Status.UNKNOWN:
            unknown.append(bucket.name or bucket.id)
    evidence: dict[str, Any] = {"account": why, "buckets": len(buckets)}
    if exposed:
        evidence["exposed_buckets"] = sorted(exposed)
        return CheckResult(
            Status.FAIL,
            f"{incomplete} and {len(exposed)} bucket(s) do not block "
            f"public access themselves: {', '.join(sorted(exposed)[:10])}",
            evidence,
        )
    if errored:
        evidence["errored_buckets"] = sorted(errored)
        return CheckResult(Status.ERROR, f"{incomplete}; bucket settings unreadable", evidence)
    if unknown:
        return CheckResult(Status.UNKNOWN, f"{incomplete}; bucket settings unknown", evidence)
    return CheckResult(
        Status.PASS,
        f"{incomplete}, but every bucket ({len(buckets)}) blocks public access itself",
        evidence,
    )
