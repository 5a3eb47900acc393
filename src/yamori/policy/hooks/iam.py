"""IAM policy document analysis.

``iam_policy_allows_full_admin`` — what we treat as *full administrative access* (CIS AWS 1.16,
"no policy allows ``*:*``"), statement by statement:

- An **Allow** whose ``Resource`` includes ``"*"`` (and that has no ``NotResource``) and whose
  ``Action`` includes ``"*"`` or ``"*:*"`` grants full admin, with or without a ``Condition``
  (a condition such as MFA still hands over everything once met; the finding says it was
  conditional).
- An **Allow with NotAction** on ``"*"`` grants every action but the listed ones. It is reported as
  full admin unless the exclusions cover all of IAM (``iam:*``, ``*`` or a pattern matching both):
  a principal that can still write IAM can grant itself the excluded rest.
- An unconditional **Deny** on ``"*"`` that removes all of IAM (``Action`` covering ``iam:*``, or
  ``NotAction`` that does not exempt ``iam:*``) neutralises the grant: the principal can no longer
  manage IAM and cannot escalate. A Deny with a ``Condition`` or on specific resources does not
  (it may not apply).

Action matching is case-insensitive with IAM wildcards (``*``, ``?``). ``Statement``, ``Action``,
``NotAction`` and ``Resource`` may each be a single value or a list. Documents may be dicts or
JSON strings (URL-encoded JSON, as some IAM APIs return, is decoded). ``UNKNOWN`` anywhere in a
statement's Effect/Action/NotAction/Resource/NotResource gives UNKNOWN unless another document
already FAILs.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from yamori.model.finding import Status
from yamori.model.resource import UNKNOWN, Resource
from yamori.policy.hooks.registry import register_hook
from yamori.policy.interface import ABSENT, CheckResult
from yamori.policy.inventory import Inventory
from yamori.policy.paths import read_attribute

__all__ = ["document_allows_full_admin", "iam_policy_allows_full_admin"]

_WILDCARD_ACTIONS = frozenset({"*", "*:*"})
_RELEVANT = ("Effect", "Action", "NotAction", "Resource", "NotResource")


def _as_list(value: Any) -> list[Any]:
    if value is None or value is ABSENT:
        return []
    return value if isinstance(value, list) else [value]


def _covers_iam(patterns: list[Any]) -> bool:
    """True when some pattern matches every IAM action (``iam:*`` itself matches it)."""
    return any(isinstance(p, str) and fnmatchcase("iam:*", p.lower()) for p in patterns)


def _contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, list):
        return any(_contains_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_unknown(v) for v in value.values())
    return False


def parse_document(value: Any) -> Any:
    """A policy document as a dict (from a dict or a possibly URL-encoded JSON string)."""
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("{"):
            text = urllib.parse.unquote(text)
        return json.loads(text)
    return value


def document_allows_full_admin(document: Any) -> tuple[bool | None, dict[str, Any]]:
    """``(True, evidence)`` if the document grants full admin, ``False`` if not, ``None`` if
    unknown parts keep us from deciding."""
    if document is UNKNOWN:
        return None, {"reason": "document is unknown"}
    if not isinstance(document, dict):
        raise ValueError("policy document is not a JSON object")
    statements = document.get("Statement", [])
    if statements is UNKNOWN:
        return None, {"reason": "Statement is unknown"}
    statements = statements if isinstance(statements, list) else [statements]
    grants: list[dict[str, Any]] = []
    neutralised_by: str | None = None
    unknown = False
    for index, statement in enumerate(statements):
        if statement is UNKNOWN or (
            isinstance(statement, dict) and any(_contains_unknown(statement.get(k)) for k in _RELEVANT)
        ):
            unknown = True
            continue
        if not isinstance(statement, dict):
            continue
        effect = statement.get("Effect")
        if "NotResource" in statement or "*" not in _as_list(statement.get("Resource")):
            continue
        actions = _as_list(statement.get("Action"))
        label = str(statement.get("Sid") or f"Statement[{index}]")
        if effect == "Allow":
            wildcard = any(isinstance(a, str) and a.lower() in _WILDCARD_ACTIONS for a in actions)
            not_action = "NotAction" in statement and not _covers_iam(_as_list(statement["NotAction"]))
            if wildcard or not_action:
                grant: dict[str, Any] = {"statement": label, "conditional": bool(statement.get("Condition"))}
                if not_action:
                    grant["not_action"] = _as_list(statement["NotAction"])
                grants.append(grant)
        elif (
            effect == "Deny"
            and not statement.get("Condition")
            and (
                ("Action" in statement and _covers_iam(actions))
                or ("NotAction" in statement and not _covers_iam(_as_list(statement["NotAction"])))
            )
        ):
            neutralised_by = label
    if unknown:
        return None, {"reason": "a statement has unknown parts"}
    if grants and neutralised_by is None:
        return True, {"grants": grants}
    if grants:
        return False, {"grants": grants, "denied_by": neutralised_by}
    return False, {}


@register_hook("iam_policy_allows_full_admin", params={"attr": str}, required=("attr",))
def iam_policy_allows_full_admin(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """PASS unless a policy document at ``attr`` grants full admin (``*`` on ``*``).

    ``attr`` may name one document or, with ``[*]``, many (``UserPolicies[*].PolicyDocument``);
    FAIL if any of them grants full admin. Semantics in the module docstring.
    """
    path = args["attr"]
    value = read_attribute(resource, path)
    if value is UNKNOWN:
        return CheckResult(Status.UNKNOWN, f"{path} is unknown")
    if value is ABSENT or value is None:
        return CheckResult(Status.PASS, f"no policy document at {path}")
    documents = value if isinstance(value, list) else [value]
    unknown_reason = ""
    for i, raw in enumerate(documents):
        try:
            verdict, evidence = document_allows_full_admin(parse_document(raw))
        except ValueError as exc:
            return CheckResult(Status.ERROR, f"{path}: cannot read policy document: {exc}")
        where = path if len(documents) == 1 else f"{path}#{i}"
        if verdict is True:
            return CheckResult(Status.FAIL, f"{where} allows full administrative access (*:*)",
                               {"document": where, **evidence})  # fmt: skip
        if verdict is None and not unknown_reason:
            unknown_reason = f"{where}: {evidence.get('reason', 'unknown')}"
    if unknown_reason:
        return CheckResult(Status.UNKNOWN, unknown_reason)
    return CheckResult(Status.PASS, "no statement allows full administrative access")
