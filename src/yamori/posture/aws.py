"""One AWS posture scan: resolve accounts, collect a snapshot, evaluate policies over it.

Why the accounts are resolved here and not in the runner: who the caller is (``sts:GetCallerIdentity``),
which roles to assume and which Organizations accounts exist are decisions of the command, and
each can fail for reasons the user must see in one line (no credentials, a role that cannot be
assumed). An account whose role cannot be assumed does not stop the others: it becomes
``CollectionError`` records for every kind, so every policy reports ERROR for that account
instead of passing on nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from yamori.model.resource import CollectionError, Snapshot
from yamori.sources.aws.interface import Collector
from yamori.sources.aws.runner import AccountTarget, RateLimits, collect_snapshot, enabled_regions
from yamori.sources.aws.session import AwsSettings, SessionFactory

__all__ = ["AccessError", "CollectPlan", "collect", "plan_collection"]

log = logging.getLogger(__name__)


class AccessError(Exception):
    """AWS cannot be reached as asked (no credentials, bad profile, no endpoint); one line."""


@dataclass(slots=True)
class CollectPlan:
    targets: list[AccountTarget]
    regions: list[str]
    collectors: list[Collector]
    failed_accounts: list[CollectionError] = field(default_factory=list)

    @property
    def units(self) -> int:
        """Collector runs the snapshot will take (progress bar total)."""
        per_account = sum(1 if c.scope == "global" else len(self.regions) for c in self.collectors)
        return per_account * len(self.targets)


def _describe(exc: Exception) -> str:
    """A botocore error in one line: ``Code: message`` for API errors, the text otherwise."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {})
        return f"{err.get('Code') or 'Error'}: {err.get('Message') or exc}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _access_error(exc: Exception, what: str) -> AccessError:
    import botocore.exceptions as bex

    if isinstance(exc, bex.NoCredentialsError):
        return AccessError(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or pass --profile"
        )
    if isinstance(exc, bex.ProfileNotFound):
        return AccessError(f"{exc} (check --profile / AWS_PROFILE)")
    return AccessError(f"{what}: {_describe(exc)}")


def _aws_errors() -> tuple[type[Exception], ...]:
    import botocore.exceptions as bex
    import botocore.parsers

    return (bex.BotoCoreError, bex.ClientError, botocore.parsers.ResponseParserError)


def caller_account(factory: SessionFactory) -> str:
    """The account of the credentials (``sts:GetCallerIdentity``); AccessError when unusable."""
    try:
        return str(factory.client("sts").get_caller_identity()["Account"])
    except _aws_errors() as exc:
        raise _access_error(exc, "cannot identify the AWS account (sts:GetCallerIdentity)") from None


def _partition(factory: SessionFactory) -> str:
    region = factory.session().region_name or "us-east-1"
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def _organization_accounts(factory: SessionFactory) -> list[str]:
    try:
        pages = factory.client("organizations").get_paginator("list_accounts").paginate()
        return sorted(a["Id"] for page in pages for a in page.get("Accounts", []) if a["Status"] == "ACTIVE")
    except _aws_errors() as exc:
        raise _access_error(
            exc, "cannot list the organization's accounts (organizations:ListAccounts)"
        ) from None


def _failed(account: str, call: str, message: str, collectors: Sequence[Collector]) -> list[CollectionError]:
    return [CollectionError(kind, account, "", call, message) for c in collectors for kind in c.kinds]


def plan_collection(
    settings: AwsSettings,
    *,
    role_arns: Sequence[str] = (),
    org_role_name: str | None = None,
    regions: Sequence[str] | None = None,
    collectors: Sequence[Collector],
    limits: RateLimits | None = None,
) -> CollectPlan:
    """Accounts (the caller's, each ``--role-arn``, or every Organizations account through
    ``org_role_name``) and regions (given, or every enabled region)."""
    base = SessionFactory(settings)
    caller = caller_account(base)  # first: "no credentials" must fail before anything else
    targets: list[AccountTarget] = []
    failed: list[CollectionError] = []
    wanted: list[tuple[str, str]] = []  # (account, role arn); "" = the caller's own session
    if org_role_name:
        partition = _partition(base)
        for account in _organization_accounts(base):
            arn = "" if account == caller else f"arn:{partition}:iam::{account}:role/{org_role_name}"
            wanted.append((account, arn))
    for arn in role_arns:
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
            raise AccessError(f"--role-arn {arn!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
        wanted.append((parts[4], arn))
    if not wanted:
        wanted.append((caller, ""))
    seen: set[str] = set()
    for account, arn in wanted:
        if account in seen:
            continue
        seen.add(account)
        if not arn:
            targets.append(AccountTarget(base, account))
            continue
        factory = base.for_role(arn, settings.external_id)
        try:
            assumed = caller_account(factory)
        except AccessError as exc:
            log.warning("cannot assume %s: %s", arn, exc)
            failed.extend(_failed(account, "sts:AssumeRole", f"cannot assume {arn}: {exc}", collectors))
            continue
        targets.append(AccountTarget(factory, assumed))
    if regions:
        chosen = list(dict.fromkeys(regions))
    else:
        try:
            chosen = enabled_regions((targets[0].factory if targets else base), limits)
        except _aws_errors() as exc:
            raise _access_error(exc, "cannot list the enabled regions (ec2:DescribeRegions)") from None
    return CollectPlan(targets, chosen, list(collectors), failed)


def collect(
    plan: CollectPlan,
    *,
    workers: int = 8,
    limits: RateLimits | None = None,
    on_done: Callable[[str, str, str], None] | None = None,
) -> Snapshot:
    """The snapshot of the plan; accounts that could not be assumed appear with their errors."""
    if plan.targets:
        snapshot = collect_snapshot(
            plan.targets, plan.regions, plan.collectors, workers=workers, limits=limits, on_done=on_done
        )
    else:
        snapshot = Snapshot(
            provider="aws",
            taken_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            regions=list(plan.regions),
        )
    if plan.failed_accounts:
        snapshot.errors.extend(plan.failed_accounts)
        snapshot.accounts = sorted({*snapshot.accounts, *(e.account for e in plan.failed_accounts)})
    return snapshot


def settings_for(**options: Any) -> AwsSettings:
    """``AwsSettings`` from command-line values (None/absent keep the defaults)."""
    return AwsSettings(**{k: v for k, v in options.items() if v is not None})
