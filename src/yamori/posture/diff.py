"""What changed between two stored scans: findings by stable id, resources by resource id.

Semantics (the same whichever policies produced the scans):

- a finding is *new* when its id is only in B, *resolved* when only in A, *changed* when in both
  with a different status or severity (PASS→FAIL is a regression, FAIL→PASS a fix). Finding ids
  hash rule, account, region, resource and sub-key, so a finding keeps its id across scans.
- a resource is *added*/*removed* by id; *changed* when a top-level attribute differs (the
  changed keys are listed; ``$tags`` / ``$errors`` when tags or collection errors differ).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from yamori.model.finding import Finding
from yamori.model.resource import Resource
from yamori.posture.result import finding_to_json
from yamori.posture.store import StoredScan

__all__ = ["FindingChange", "ResourceChange", "ScanDiff", "diff_scans"]


@dataclass(slots=True)
class FindingChange:
    before: Finding
    after: Finding

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.after.id,
            "rule_id": self.after.rule_id,
            "title": self.after.title,
            "resource": self.after.resource,
            "account": self.after.account,
            "region": self.after.region,
            "status": {"before": str(self.before.status), "after": str(self.after.status)},
            "severity": {"before": str(self.before.severity), "after": str(self.after.severity)},
        }


@dataclass(slots=True)
class ResourceChange:
    id: str
    kind: str
    keys: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "changed": self.keys}


@dataclass(slots=True)
class ScanDiff:
    a: str
    b: str
    new: list[Finding] = field(default_factory=list)
    resolved: list[Finding] = field(default_factory=list)
    changed: list[FindingChange] = field(default_factory=list)
    resources_added: list[Resource] = field(default_factory=list)
    resources_removed: list[Resource] = field(default_factory=list)
    resources_changed: list[ResourceChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def ref(r: Resource) -> dict[str, str]:
            return {"id": r.id, "kind": r.kind, "account": r.account, "region": r.region}

        return {
            "a": self.a,
            "b": self.b,
            "findings": {
                "new": [finding_to_json(f) for f in self.new],
                "resolved": [finding_to_json(f) for f in self.resolved],
                "changed": [c.to_json() for c in self.changed],
            },
            "resources": {
                "added": [ref(r) for r in self.resources_added],
                "removed": [ref(r) for r in self.resources_removed],
                "changed": [c.to_json() for c in self.resources_changed],
            },
            "notes": self.notes,
        }


def _changed_keys(before: Resource, after: Resource) -> list[str]:
    keys = sorted(
        k
        for k in before.attributes.keys() | after.attributes.keys()
        if before.attributes.get(k, _MISSING) != after.attributes.get(k, _MISSING)
    )
    if before.tags != after.tags:
        keys.append("$tags")
    if before.errors != after.errors:
        keys.append("$errors")
    return keys


_MISSING = object()


def diff_scans(a: StoredScan, b: StoredScan) -> ScanDiff:
    result = ScanDiff(str(a.path), str(b.path))
    if a.findings is None or b.findings is None:
        result.notes.append("one side is a bare snapshot without findings: only resources are compared")
    before = {f.id: f for f in a.findings or []}
    after = {f.id: f for f in b.findings or []}
    for fid, finding in after.items():
        old = before.get(fid)
        if old is None:
            result.new.append(finding)
        elif old.status != finding.status or old.severity != finding.severity:
            result.changed.append(FindingChange(old, finding))
    result.resolved = [f for fid, f in before.items() if fid not in after]
    res_a = {r.id: r for r in a.snapshot.resources}
    res_b = {r.id: r for r in b.snapshot.resources}
    result.resources_added = [r for rid, r in res_b.items() if rid not in res_a]
    result.resources_removed = [r for rid, r in res_a.items() if rid not in res_b]
    for rid, resource in res_b.items():
        old_resource = res_a.get(rid)
        if old_resource is not None:
            keys = _changed_keys(old_resource, resource)
            if keys:
                result.resources_changed.append(ResourceChange(rid, resource.kind, keys))
    if a.framework != b.framework and a.findings is not None and b.findings is not None:
        result.notes.append(
            f"the scans were evaluated with different frameworks ({a.framework} vs {b.framework})"
        )
    return result
