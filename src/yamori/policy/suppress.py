"""Suppressions: accepted risks, from a YAML file or from resource tags.

Representation: a suppressed finding gets ``Status.SUPPRESSED`` and keeps what it would have been
in ``evidence["suppression"]`` (``status``, ``reason``, ``source``, ``expires``). Why a status and
not a flag: every writer, the store and the exit code already treat statuses, so "hide suppressed"
and "exit code ignores suppressed" need no new field; the original status is never lost.

Only FAIL, ERROR, UNKNOWN and MANUAL findings are suppressed; PASS and NOT_APPLICABLE stay as they
are (there is nothing to accept).

File format (strict; unknown keys are errors with file:line)::

    suppressions:                # or a bare list
      - policy: aws-s3-*         # glob over policy ids (required)
        resource: "arn:aws:s3:::public-site-*"   # glob over resource id or name (default "*")
        account: "123456789012"  # glob (default "*")
        region: "*"              # glob (default "*")
        reason: "public website bucket, reviewed by SEC-123"   # required
        expires: 2025-12-31      # optional; the entry applies through that day (UTC)

An expired entry no longer applies and produces a warning naming its file:line.

Tags: ``yamori:ignore`` holds comma-separated policy ids or globs (``*`` for all) and
``yamori:ignore-reason`` the reason (``"no reason given (tag yamori:ignore)"`` when missing).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Final

from yamori.model.finding import Finding, Status
from yamori.policy.interface import PolicyError, PolicyLoadError
from yamori.policy.inventory import Inventory
from yamori.policy.yamlsrc import MarkedList, MarkedMap, load_yaml

__all__ = [
    "TAG_IGNORE",
    "TAG_REASON",
    "Suppression",
    "Suppressions",
    "apply_suppressions",
    "load_suppressions",
    "parse_suppressions",
]

TAG_IGNORE: Final = "yamori:ignore"
TAG_REASON: Final = "yamori:ignore-reason"
SUPPRESSIBLE: Final = frozenset({Status.FAIL, Status.ERROR, Status.UNKNOWN, Status.MANUAL})
_KEYS: Final = ("policy", "resource", "account", "region", "reason", "expires")


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


@dataclass(frozen=True, slots=True)
class Suppression:
    policy: str
    reason: str
    resource: str = "*"
    account: str = "*"
    region: str = "*"
    expires: date | None = None
    source: str = ""  # file:line
    _policy_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _resource_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _account_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _region_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_policy_re", _glob(self.policy))
        object.__setattr__(self, "_resource_re", _glob(self.resource))
        object.__setattr__(self, "_account_re", _glob(self.account))
        object.__setattr__(self, "_region_re", _glob(self.region))

    def expired(self, today: date) -> bool:
        return self.expires is not None and today > self.expires

    def matches(self, finding: Finding, resource_name: str = "") -> bool:
        return bool(
            self._policy_re.match(finding.rule_id)
            and (
                self._resource_re.match(finding.resource)
                or (resource_name and self._resource_re.match(resource_name))
            )
            and self._account_re.match(finding.account)
            and self._region_re.match(finding.region)
        )


@dataclass(slots=True)
class Suppressions:
    entries: list[Suppression] = field(default_factory=list)
    honor_tags: bool = True

    def active(self, today: date) -> tuple[list[Suppression], list[str]]:
        """Entries still in force, and one warning per expired entry."""
        live: list[Suppression] = []
        warnings: list[str] = []
        for entry in self.entries:
            if entry.expired(today):
                warnings.append(
                    f"{entry.source}: suppression of {entry.policy!r} on {entry.resource!r} expired on "
                    f"{entry.expires} and no longer applies"
                )
            else:
                live.append(entry)
        return live, warnings


def _string(node: MarkedMap, key: str, required: bool) -> str:
    if key not in node:
        if required:
            raise node.error(f"suppression is missing required key '{key}'")
        return "*"
    value = node[key]
    if isinstance(value, int) and not isinstance(value, bool):
        raise node.error(f"quote '{key}': unquoted digits read as a number (and may lose leading zeros)", key)
    if not isinstance(value, str) or not value.strip():
        raise node.error(f"'{key}' must be a non-empty string", key)
    return value


def _entry(node: object, items: MarkedList, index: int) -> Suppression:
    if not isinstance(node, MarkedMap):
        raise items.error("each suppression must be a mapping", index)
    for key in node:
        if key not in _KEYS:
            raise node.error(f"unknown suppression key {key!r} (expected one of {', '.join(_KEYS)})", key)
    expires: date | None = None
    if "expires" in node:
        raw = node["expires"]
        try:
            if not isinstance(raw, str):
                raise ValueError
            expires = (datetime.fromisoformat(raw).date()) if "T" in raw else date.fromisoformat(raw)
        except ValueError:
            raise node.error(f"'expires' must be a date (YYYY-MM-DD), got {raw!r}", "expires") from None
    return Suppression(
        policy=_string(node, "policy", True),
        reason=_string(node, "reason", True),
        resource=_string(node, "resource", False),
        account=_string(node, "account", False),
        region=_string(node, "region", False),
        expires=expires,
        source=f"{node.file}:{node.line}",
    )


def _parse(text: str, file: str, errors: list[PolicyError]) -> list[Suppression]:
    try:
        doc = load_yaml(text, file)
    except PolicyError as exc:
        errors.append(exc)
        return []
    if doc is None:
        return []
    items = doc
    if isinstance(doc, MarkedMap):
        extra = [k for k in doc if k != "suppressions"]
        if extra:
            errors.append(
                doc.error(f"unknown top-level key {extra[0]!r} (expected 'suppressions')", extra[0])
            )
            return []
        items = doc.get("suppressions")
        if items is None:
            return []
    if not isinstance(items, MarkedList):
        errors.append(PolicyError(file, 1, "a suppressions file is a list or a mapping with 'suppressions:'"))
        return []
    out: list[Suppression] = []
    for i, node in enumerate(items):
        try:
            out.append(_entry(node, items, i))
        except PolicyError as exc:
            errors.append(exc)
    return out


def parse_suppressions(text: str, file: str = "<string>") -> Suppressions:
    errors: list[PolicyError] = []
    entries = _parse(text, file, errors)
    if errors:
        raise PolicyLoadError(errors)
    return Suppressions(entries)


def load_suppressions(paths: str | Path | Iterable[str | Path]) -> Suppressions:
    """Read suppression files; raises :class:`PolicyLoadError` listing every problem."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    errors: list[PolicyError] = []
    entries: list[Suppression] = []
    for raw in paths:
        path = Path(raw)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(PolicyError(str(path), 0, f"cannot read: {exc}"))
            continue
        entries.extend(_parse(text, str(path), errors))
    if errors:
        raise PolicyLoadError(errors)
    return Suppressions(entries)


def _tag_match(tag_value: str, policy_id: str) -> bool:
    return any(fnmatch.fnmatchcase(policy_id, item.strip()) for item in tag_value.split(",") if item.strip())


def apply_suppressions(
    findings: list[Finding], suppressions: Suppressions | None, inventory: Inventory, today: date
) -> list[str]:
    """Mark suppressed findings in place; return warnings (expired entries)."""
    suppressions = suppressions or Suppressions()
    entries, warnings = suppressions.active(today)
    if not entries and not suppressions.honor_tags:
        return warnings
    by_policy: dict[str, list[Suppression]] = {}
    for finding in findings:
        if finding.status not in SUPPRESSIBLE:
            continue
        candidates = by_policy.get(finding.rule_id)
        if candidates is None:
            candidates = [e for e in entries if e._policy_re.match(finding.rule_id)]
            by_policy[finding.rule_id] = candidates
        resource = inventory.get(finding.resource)
        name = resource.name if resource is not None else ""
        hit: dict[str, str] | None = None
        for entry in candidates:
            if entry.matches(finding, name):
                hit = {"reason": entry.reason, "source": entry.source}
                if entry.expires is not None:
                    hit["expires"] = entry.expires.isoformat()
                break
        if hit is None and suppressions.honor_tags and resource is not None:
            tag = resource.tags.get(TAG_IGNORE)
            if tag and _tag_match(tag, finding.rule_id):
                hit = {
                    "reason": resource.tags.get(TAG_REASON) or f"no reason given (tag {TAG_IGNORE})",
                    "source": f"tag {TAG_IGNORE}",
                }
        if hit is not None:
            finding.evidence["suppression"] = {"status": str(finding.status), **hit}
            finding.status = Status.SUPPRESSED
    return warnings
