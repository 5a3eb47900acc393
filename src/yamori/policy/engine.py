"""Evaluation: policies x inventory -> findings.

Why a pure function over a snapshot: evaluation never calls an API, so it is fast, repeatable, and
every failure to *collect* is visible as an ERROR finding (from ``resource.errors`` or a
``CollectionError``) instead of a silently missing or passing result.

One finding per (policy, resource of its kinds) for resource-scoped policies; one per account for
account-scoped and manual policies; one ERROR finding per (policy, failed listing). Each resource
meets only the policies of its kind (the inventory is indexed by kind).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from yamori.model.finding import Finding, FindingKind, Status
from yamori.model.resource import UNKNOWN, CollectionError, Resource
from yamori.policy import hooks
from yamori.policy.interface import (
    ABSENT,
    CheckResult,
    EvalContext,
    EvaluationResult,
    Indeterminate,
    MatchMode,
    Policy,
    Scope,
)
from yamori.policy.inventory import Inventory
from yamori.policy.paths import CollectionFailed
from yamori.policy.suppress import Suppressions, apply_suppressions

__all__ = ["check_resource", "evaluate", "evaluate_full"]

_MAX_LISTED: Final = 50  # resource ids listed in an account-scoped finding's evidence


def _jsonable(value: Any) -> Any:
    """Evidence must serialise: UNKNOWN becomes the string "(unknown)"."""
    if value is UNKNOWN:
        return "(unknown)"
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return False


def _origin(resource: Resource, path: str) -> str | None:
    origins = resource.origins
    probe = path
    while True:
        found = origins.get(probe)
        if found is not None:
            return found
        cut = max(probe.rfind("."), probe.rfind("["))
        if cut <= 0:
            return None
        probe = probe[:cut]


def _indeterminate(v: Indeterminate, prefix: str = "") -> CheckResult:
    return CheckResult(v.status, prefix + v.message)


def check_resource(policy: Policy, resource: Resource, ctx: EvalContext, inventory: Inventory) -> CheckResult:
    """The outcome of one (non-manual) policy on one resource."""
    if policy.applies_if is not None:
        applies = policy.applies_if(resource, ctx)
        if applies is False:
            return CheckResult(Status.NOT_APPLICABLE, "applies_if is false")
        if applies is not True:
            assert isinstance(applies, Indeterminate)
            return _indeterminate(applies, "applies_if: ")
    if policy.condition is not None:
        verdict = policy.condition(resource, ctx)
        if verdict is True:
            return CheckResult(Status.PASS, "condition holds")
        if verdict is False:
            message = policy.message(resource) if policy.message else f"{policy.title}: condition not met"
            return CheckResult(Status.FAIL, message)
        assert isinstance(verdict, Indeterminate)
        return _indeterminate(verdict)
    assert policy.hook is not None
    if "*" in resource.errors:
        return CheckResult(Status.ERROR, resource.errors["*"])
    spec = hooks.get_hook(policy.hook)
    if spec is None:
        return CheckResult(Status.ERROR, f"hook {policy.hook!r} is not registered")
    try:
        result = spec.func(resource, inventory, policy.hook_args)
    except CollectionFailed as exc:
        return CheckResult(Status.ERROR, str(exc))
    except Exception as exc:  # a hook bug must not stop the scan; it becomes an ERROR finding
        return CheckResult(Status.ERROR, f"hook {policy.hook!r} failed: {type(exc).__name__}: {exc}")
    if result.status is Status.FAIL and policy.message is not None:
        return CheckResult(Status.FAIL, policy.message(resource), result.evidence)
    return result


def _evidence(policy: Policy, resource: Resource, result: CheckResult) -> dict[str, Any]:
    evidence: dict[str, Any] = {"message": result.message}
    attributes: dict[str, Any] = {}
    origins: dict[str, str] = {}
    absent: list[str] = []
    errors: dict[str, str] = {}
    for path in policy.evidence_paths:
        error = path.error_for(resource)
        if error is not None:
            errors[path.text] = error
            continue
        value = path.read(resource)
        if value is ABSENT:
            absent.append(path.text)
            continue
        attributes[path.text] = _jsonable(value) if _has_unknown(value) else value
        if resource.origins:
            origin = _origin(resource, path.text)
            if origin is not None:
                origins[path.text] = origin
    if attributes:
        evidence["attributes"] = attributes
    if absent:
        evidence["absent"] = absent
    if errors:
        evidence["errors"] = errors
    if origins:
        evidence["origins"] = origins
    if resource.location:
        evidence["location"] = resource.location
    if result.evidence:
        evidence["details"] = _jsonable(dict(result.evidence))
    return evidence


def _finding(
    policy: Policy,
    status: Status,
    resource_id: str,
    account: str,
    region: str,
    evidence: dict[str, Any],
) -> Finding:
    if status is not Status.PASS and status is not Status.NOT_APPLICABLE:
        extra = policy.remediation.to_json()
        if len(extra) > 1 or (extra and "text" not in extra):
            evidence["remediation"] = extra
    if policy.severity_label == "info":
        evidence["severity_label"] = "info"
    return Finding(
        kind=FindingKind.MISCONFIGURATION,
        rule_id=policy.id,
        title=policy.title,
        severity=policy.severity,
        status=status,
        resource=resource_id,
        account=account,
        region=region,
        description=policy.description,
        remediation=policy.remediation.text,
        evidence=evidence,
        compliance=policy.compliance_refs,
        references=list(policy.references),
    )


def _error_place(kind: str, account: str, region: str) -> str:
    return f"{kind}@{account}/{region}" if region else f"{kind}@{account}"


def _collection_error_finding(policy: Policy, error: CollectionError) -> Finding:
    return _finding(
        policy,
        Status.ERROR,
        _error_place(error.kind, error.account, error.region),
        error.account,
        error.region,
        {"message": f"{error.call}: {error.message}", "call": error.call, "kind": error.kind},
    )


class _Accounts:
    """Accounts per provider (first segment of a kind), so a manual AWS check is not reported for
    a Kubernetes-only scan."""

    def __init__(self, inventory: Inventory, extra: Iterable[str]) -> None:
        self.extra = list(dict.fromkeys(extra))
        self.by_provider: dict[str, dict[str, None]] = {}
        for r in inventory:
            self.by_provider.setdefault(r.kind.partition(".")[0], {}).setdefault(r.account, None)
        for e in inventory.errors:
            self.by_provider.setdefault(e.kind.partition(".")[0], {}).setdefault(e.account, None)

    def for_policy(self, policy: Policy) -> list[str]:
        seen: dict[str, None] = {}
        for kind in policy.kinds:
            seen.update(self.by_provider.get(kind.partition(".")[0], {}))
        seen.update(dict.fromkeys(self.extra))
        return list(seen)


def _account_place(policy: Policy, account: str) -> str:
    return f"{','.join(policy.kinds)}@{account}"


def _manual(policy: Policy, accounts: list[str], inventory: Inventory) -> list[Finding]:
    """One MANUAL finding per account, with the audit procedure; where the policy names evidence
    and the account has exactly one resource of its kind (``aws.account``), the values the
    auditor will want to look at are attached (the security contact for CIS 1.2)."""
    findings = []
    for account in accounts:
        evidence: dict[str, Any] = {
            "message": "manual check: follow the audit procedure",
            "audit": policy.audit,
        }
        if policy.evidence_paths:
            subjects = [r for kind in policy.kinds for r in inventory.by_kind(kind, account)]
            if len(subjects) == 1:
                looked_up = _evidence(policy, subjects[0], CheckResult(Status.MANUAL, ""))
                looked_up.pop("message", None)
                evidence.update(looked_up)
        findings.append(
            _finding(policy, Status.MANUAL, _account_place(policy, account), account, "", evidence)
        )
    return findings


def _account_scope(policy: Policy, account: str, inventory: Inventory, ctx: EvalContext) -> Finding:
    results: list[tuple[Resource, CheckResult]] = []
    errors: list[CollectionError] = []
    for kind in policy.kinds:
        for resource in inventory.by_kind(kind, account):
            results.append((resource, check_resource(policy, resource, ctx, inventory)))
        errors.extend(e for e in inventory.errors_for(kind) if e.account == account)
    by_status: dict[Status, list[tuple[Resource, CheckResult]]] = {}
    for resource, result in results:
        by_status.setdefault(result.status, []).append((resource, result))
    passing = [r.id for r, _ in by_status.get(Status.PASS, [])]
    failing = [r.id for r, _ in by_status.get(Status.FAIL, [])]
    error_messages = [f"{e.call}: {e.message}" for e in errors] + [
        f"{r.id}: {c.message}" for r, c in by_status.get(Status.ERROR, [])
    ]
    unknown_messages = [f"{r.id}: {c.message}" for r, c in by_status.get(Status.UNKNOWN, [])]
    evaluated = sum(1 for _, c in results if c.status is not Status.NOT_APPLICABLE)
    kinds = ", ".join(policy.kinds)
    if policy.match is MatchMode.ANY:
        if passing:
            status, message = Status.PASS, f"{len(passing)} of {evaluated} {kinds} satisfy the condition"
        elif error_messages:
            status, message = Status.ERROR, error_messages[0]
        elif unknown_messages:
            status, message = Status.UNKNOWN, unknown_messages[0]
        else:
            status = Status.FAIL
            message = f"no {kinds} in account {account} satisfies the condition ({evaluated} evaluated)"
    else:
        if failing:
            status = Status.FAIL
            message = f"{len(failing)} of {evaluated} {kinds} fail the condition"
        elif error_messages:
            status, message = Status.ERROR, error_messages[0]
        elif unknown_messages:
            status, message = Status.UNKNOWN, unknown_messages[0]
        elif evaluated == 0:
            status, message = Status.NOT_APPLICABLE, f"no applicable {kinds} in account {account}"
        else:
            status, message = Status.PASS, f"all {evaluated} {kinds} satisfy the condition"
    if status is Status.FAIL and policy.message is not None:
        synthetic = Resource(
            kind=policy.kinds[0], id=_account_place(policy, account), name=account, account=account
        )
        message = policy.message(synthetic)
    evidence: dict[str, Any] = {"message": message, "match": str(policy.match), "evaluated": evaluated}
    if passing:
        evidence["passing"] = passing[:_MAX_LISTED]
    if failing:
        evidence["failing"] = failing[:_MAX_LISTED]
        # Why each resource failed (a hook's reason: which events a metric filter misses, ...):
        # without it an account-level FAIL says what is wrong but not what to change.
        reasons = {r.id: c.message for r, c in by_status.get(Status.FAIL, []) if c.message}
        if reasons:
            evidence["reasons"] = dict(list(reasons.items())[:_MAX_LISTED])
    if error_messages:
        evidence["errors"] = error_messages[:_MAX_LISTED]
    if unknown_messages:
        evidence["unknown"] = unknown_messages[:_MAX_LISTED]
    return _finding(policy, status, _account_place(policy, account), account, "", evidence)


def evaluate_full(
    policies: Sequence[Policy],
    resources: Iterable[Resource] | Inventory,
    *,
    errors: Iterable[CollectionError] = (),
    now: datetime | None = None,
    suppressions: Suppressions | None = None,
    accounts: Iterable[str] = (),
) -> EvaluationResult:
    """Evaluate ``policies`` over ``resources``; findings plus warnings (expired suppressions).

    ``now`` (default: the current time, UTC) anchors the age operators and suppression expiry;
    ``accounts`` adds accounts that get account-scoped and manual findings even with no resources.
    """
    if isinstance(resources, Inventory):
        extra = list(errors)
        inventory = Inventory(resources.resources, [*resources.errors, *extra]) if extra else resources
    else:
        inventory = Inventory(resources, errors)
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ctx = EvalContext(Resource(kind="", id=""), moment.timestamp())
    account_index = _Accounts(inventory, accounts)
    findings: list[Finding] = []
    for policy in policies:
        if policy.manual:
            findings.extend(_manual(policy, account_index.for_policy(policy), inventory))
            continue
        if policy.scope is Scope.ACCOUNT:
            findings.extend(
                _account_scope(policy, account, inventory, ctx)
                for account in account_index.for_policy(policy)
            )
            continue
        for kind in policy.kinds:
            for resource in inventory.by_kind(kind):
                result = check_resource(policy, resource, ctx, inventory)
                findings.append(
                    _finding(
                        policy,
                        result.status,
                        resource.id,
                        resource.account,
                        resource.region,
                        _evidence(policy, resource, result),
                    )
                )
            for error in inventory.errors_for(kind):
                findings.append(_collection_error_finding(policy, error))
    warnings = apply_suppressions(findings, suppressions, inventory, moment.date())
    return EvaluationResult(findings, warnings)


def evaluate(
    policies: Sequence[Policy],
    resources: Iterable[Resource] | Inventory,
    *,
    errors: Iterable[CollectionError] = (),
    now: datetime | None = None,
    suppressions: Suppressions | None = None,
    accounts: Iterable[str] = (),
) -> list[Finding]:
    """Like :func:`evaluate_full`, returning only the findings."""
    return evaluate_full(
        policies, resources, errors=errors, now=now, suppressions=suppressions, accounts=accounts
    ).findings
