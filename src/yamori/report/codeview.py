"""Where in the code a posture finding points: what SARIF, JUnit and the IaC table share.

A finding over an IaC resource carries ``evidence["location"]`` (the declaring block,
``dir/main.tf:12``) and ``evidence["origins"]`` (attribute path → ``file:line`` of the value the
policy read). Kept in one place so every writer names the same line. Live cloud findings have
neither: writers fall back to the resource id as a logical location.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from yamori.model.finding import Finding
from yamori.posture.result import PostureResult, ReportOptions

__all__ = ["CodeLocation", "CodeReportOptions", "code_location", "show_unknown", "split_location"]


@dataclass(slots=True)
class CodeReportOptions(ReportOptions):
    """Report options of ``yamori iac``: UNKNOWN results (unresolved values) are listed only
    when asked, since they say "could not tell", not "wrong"."""

    show_unknown: bool = False
    root: str = ""  # absolute path of the scanned root (SARIF %SRCROOT%)


def show_unknown(options: ReportOptions) -> bool:
    return isinstance(options, CodeReportOptions) and options.show_unknown


def split_location(location: str) -> tuple[str, int | None]:
    """``dir/main.tf:12`` → (``dir/main.tf``, 12); no line → (location, None)."""
    head, sep, tail = location.rpartition(":")
    if sep and tail.isdigit() and head:
        return head, int(tail)
    return location, None


@dataclass(slots=True)
class CodeLocation:
    file: str
    start: int | None
    end: int | None = None
    # (attribute path, file, line) of every value the policy read, where known
    related: list[tuple[str, str, int]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.file}:{self.start}" if self.start else self.file


def code_location(result: PostureResult, finding: Finding) -> CodeLocation | None:
    """The declaring block of the finding's resource, and the lines of what the policy read.

    ``end`` is the last line of a value read in the same file below the block start: the
    adapters give block starts, not ends, so this is the extent the finding is known to cover.
    """
    location = finding.evidence.get("location")
    if not isinstance(location, str) or not location:
        resource = result.resource(finding.resource)
        location = resource.location if resource is not None else ""
    if not location:
        return None
    file, start = split_location(location)
    related: list[tuple[str, str, int]] = []
    origins = finding.evidence.get("origins")
    if isinstance(origins, dict):
        for path, origin in origins.items():
            if isinstance(origin, str):
                ofile, oline = split_location(origin)
                if oline is not None:
                    related.append((str(path), ofile, oline))
    end = max((line for _, f, line in related if f == file and start and line > start), default=None)
    return CodeLocation(file, start, end, related)
