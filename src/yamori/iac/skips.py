"""Inline skips: accepted risks written next to the code they accept.

Three spellings, one meaning ("do not fail this resource on this policy, because ..."):

- a comment on the resource's line or in the comment lines right above it, in any text dialect
  (HCL ``#`` and ``//``, YAML ``#``, Dockerfile ``#``)::

      # yamori:ignore aws-s3-bucket-mfa-delete-enabled versioned by the backup account
      resource "aws_s3_bucket" "logs" {

- CloudFormation resource metadata (JSON templates have no comments)::

      Metadata: {yamori: {ignore: [{id: aws-rds-instance-not-public, reason: "bastion"}]}}

- a Kubernetes annotation read from the manifest adapter's ``metadata.annotations``::

      yamori.io/ignore: "k8s-pod-privileged: node agent, k8s-pod-host-network: CNI"

Why a reason is mandatory: a skip is a decision someone will have to revisit; one without a
reason is reported as a warning and not applied. A skipped finding gets the policy engine's
suppression representation (``Status.SUPPRESSED`` with ``evidence["suppression"]``), so every
writer and the gate already treat it right. Policy ids may be globs (``aws-s3-*``), as in the
``yamori:ignore`` tag the engine honours on live resources.

Readers are registered per ``Resource.source``; a dialect added to the adapter registry gets the
comment reader by default and needs one line here only if it has its own skip syntax.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from yamori.model.finding import Finding, Status
from yamori.model.resource import Resource
from yamori.report.codeview import split_location

__all__ = [
    "ANNOTATION",
    "InlineSkip",
    "SkipReport",
    "apply_skips",
    "collect_skips",
    "parse_annotation",
]

ANNOTATION: Final = "yamori.io/ignore"
_SUPPRESSIBLE: Final = frozenset({Status.FAIL, Status.ERROR, Status.UNKNOWN, Status.MANUAL})
# `# yamori:ignore ID reason` or `// yamori:ignore ID reason`, anywhere after code on the line.
_COMMENT: Final = re.compile(r"(?:#|//)\s*yamori:ignore(?:\s+(?P<id>\S+))?(?:\s+(?P<reason>\S.*?))?\s*$")
_COMMENT_ONLY: Final = re.compile(r"^\s*(?:#|//)")
# Annotation entries: `ID: reason` separated by commas; a comma inside a reason is kept unless
# what follows looks like the next `ID:`.
_ANNOTATION_ENTRY: Final = re.compile(
    r"\s*(?P<id>[A-Za-z0-9_.*?\[\]-]+)\s*(?::\s*(?P<reason>.*?))?\s*(?=,\s*[A-Za-z0-9_.*?\[\]-]+\s*(?::|,|$)|$)"
)
_MAX_SOURCE_BYTES: Final = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class InlineSkip:
    """One skip of ``policy`` (a glob) on one resource, declared at ``source`` (``file:line``)."""

    resource: str  # the scan's resource id
    policy: str
    reason: str
    source: str
    form: str  # "comment" | "metadata" | "annotation"

    def matches(self, policy_id: str) -> bool:
        return fnmatch.fnmatchcase(policy_id, self.policy)


@dataclass(slots=True)
class SkipReport:
    """What the skip readers found: usable skips and one warning per unusable one."""

    skips: list[InlineSkip] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Sources:
    """Lines of scanned files, read once each; files outside ``base`` are never opened."""

    def __init__(self, base: Path) -> None:
        self.base = base.resolve()
        self._lines: dict[str, list[str] | None] = {}
        self._templates: dict[str, Any] = {}

    def path(self, rel: str) -> Path | None:
        path = (self.base / rel).resolve()
        if path != self.base and self.base not in path.parents:
            return None
        return path

    def lines(self, rel: str) -> list[str] | None:
        if rel not in self._lines:
            self._lines[rel] = self._read(rel)
        return self._lines[rel]

    def _read(self, rel: str) -> list[str] | None:
        path = self.path(rel)
        if path is None:
            return None
        try:
            if path.stat().st_size > _MAX_SOURCE_BYTES:
                return None
            return path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
        except OSError:
            return None

    def template(self, rel: str) -> Any:
        """A CloudFormation template's marked tree (None when unreadable), parsed once."""
        if rel not in self._templates:
            self._templates[rel] = None
            lines = self.lines(rel)
            if lines is not None and any("yamori" in line for line in lines):
                from yamori.sources.iac.cloudformation import TemplateError, parse_template

                with contextlib.suppress(TemplateError):  # the adapter already reported it
                    self._templates[rel] = parse_template("\n".join(lines), rel.lower().endswith(".json"))
        return self._templates[rel]


Reader = Callable[[Resource, str, _Sources, SkipReport], None]


def _add(
    report: SkipReport, resource: str, policy: str | None, reason: str | None, source: str, form: str
) -> None:
    if not policy:
        report.warnings.append(f"{source}: yamori:ignore names no policy id; not applied")
    elif not reason or not reason.strip():
        report.warnings.append(
            f"{source}: yamori:ignore {policy} has no reason; not applied (write why the risk is accepted)"
        )
    else:
        report.skips.append(InlineSkip(resource, policy, reason.strip(), source, form))


def _comments(resource: Resource, rid: str, sources: _Sources, report: SkipReport) -> None:
    """``yamori:ignore`` comments on the resource's line and the comment lines right above it."""
    file, line = split_location(resource.location)
    if line is None or file.lower().endswith(".json"):
        return
    lines = sources.lines(file)
    if lines is None or line > len(lines):
        return
    candidates = [line]
    above = line - 1
    while above >= 1 and _COMMENT_ONLY.match(lines[above - 1]):
        candidates.append(above)
        above -= 1
    for number in sorted(candidates):
        match = _COMMENT.search(lines[number - 1])
        if match:
            _add(report, rid, match.group("id"), match.group("reason"), f"{file}:{number}", "comment")


def _cfn_metadata(resource: Resource, rid: str, sources: _Sources, report: SkipReport) -> None:
    """``Metadata.yamori.ignore`` of the resource's logical id in its template."""
    file, _ = split_location(resource.location)
    template = sources.template(file)
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        return
    # The scan qualifies ids as "template.yaml#Logical" ("stack/Logical" with a stack name).
    logical = resource.id.rpartition("#")[2].rpartition("/")[2]
    body = template["Resources"].get(logical)
    meta = body.get("Metadata") if isinstance(body, dict) else None
    ours = meta.get("yamori") if isinstance(meta, dict) else None
    entries = ours.get("ignore") if isinstance(ours, dict) else None
    if entries is None:
        return
    lines = getattr(entries, "item_lines", [])
    if not isinstance(entries, list):
        report.warnings.append(f"{resource.location}: Metadata.yamori.ignore must be a list; not applied")
        return
    for index, entry in enumerate(entries):
        where = f"{file}:{lines[index]}" if index < len(lines) else resource.location
        if not isinstance(entry, dict):
            report.warnings.append(f"{where}: Metadata.yamori.ignore entries are {{id, reason}}; not applied")
            continue
        policy, reason = entry.get("id"), entry.get("reason")
        _add(
            report,
            rid,
            policy if isinstance(policy, str) else None,
            reason if isinstance(reason, str) else None,
            where,
            "metadata",
        )


def parse_annotation(text: str) -> list[tuple[str, str]]:
    """``"A: why, B: why"`` → [("A", "why"), ("B", "why")]; a missing reason is ``""``."""
    out: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _ANNOTATION_ENTRY.match(text, position)
        if match is None or match.end() == position:
            break
        out.append((match.group("id"), (match.group("reason") or "").strip()))
        position = match.end()
        if position < len(text) and text[position] == ",":
            position += 1
    return out


def _annotations(resource: Resource, rid: str, sources: _Sources, report: SkipReport) -> None:
    """The ``yamori.io/ignore`` annotation in ``metadata.annotations`` (Kubernetes manifests)."""
    metadata = resource.attributes.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    value = annotations.get(ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(value, str):
        return
    where = resource.origins.get(f"metadata.annotations.{ANNOTATION}") or resource.location
    for policy, reason in parse_annotation(value):
        _add(report, rid, policy, reason, where, "annotation")


# Resource.source → readers. Dialects not listed get the comment reader.
_DEFAULT_READERS: Final[tuple[Reader, ...]] = (_comments,)
_READERS: Final[dict[str, tuple[Reader, ...]]] = {
    "cloudformation": (_comments, _cfn_metadata),
    "kubernetes": (_comments, _annotations),
}


def collect_skips(resources: Iterable[Resource], base: Path) -> SkipReport:
    """Every inline skip declared for ``resources`` (locations relative to ``base``)."""
    sources = _Sources(base)
    report = SkipReport()
    for resource in resources:
        if not resource.location:
            continue
        for reader in _READERS.get(resource.source, _DEFAULT_READERS):
            reader(resource, resource.id, sources, report)
    # A warning per declaration, not per count/for_each instance sharing it.
    report.warnings = list(dict.fromkeys(report.warnings))
    return report


def apply_skips(findings: list[Finding], report: SkipReport, *, enabled: bool = True) -> list[str]:
    """Suppress findings an inline skip covers; return warnings.

    With ``enabled`` false (``--no-inline-skips``) nothing is suppressed and every skip that would
    have applied is listed, so a reviewer sees what the code tried to waive.
    """
    by_resource: dict[str, list[InlineSkip]] = {}
    for declared in report.skips:
        by_resource.setdefault(declared.resource, []).append(declared)
    used: set[InlineSkip] = set()
    evaluated: dict[str, set[str]] = {}
    warnings: list[str] = []
    for finding in findings:
        evaluated.setdefault(finding.resource, set()).add(finding.rule_id)
        skip = next((s for s in by_resource.get(finding.resource, []) if s.matches(finding.rule_id)), None)
        if skip is None:
            continue
        used.add(skip)
        if finding.status not in _SUPPRESSIBLE:
            continue
        if not enabled:
            warnings.append(
                f"{skip.source}: inline skip of {finding.rule_id} on {finding.resource} not applied "
                f"(--no-inline-skips): {skip.reason}"
            )
            continue
        finding.evidence["suppression"] = {
            "status": str(finding.status),
            "reason": skip.reason,
            "source": f"{skip.source} (inline {skip.form})",
        }
        finding.status = Status.SUPPRESSED
    for skip in dict.fromkeys(report.skips):
        if skip not in used and not any(skip.matches(p) for p in evaluated.get(skip.resource, ())):
            warnings.append(
                f"{skip.source}: yamori:ignore {skip.policy} matches no policy evaluated on {skip.resource}"
            )
    return list(dict.fromkeys(warnings))
