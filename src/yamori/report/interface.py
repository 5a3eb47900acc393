"""The report-writer contract: one module per output format, each registered by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, TextIO

if TYPE_CHECKING:  # annotations only: the registry imports this module at start-up
    from yamori.model import ScanResult
    from yamori.posture.result import PostureResult, ReportOptions


class ReportWriter(ABC):
    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def write(self, result: ScanResult, out: TextIO) -> None:
        """Write the whole result. Writers never drop `result.errors`: they are part of it."""


class PostureWriter(ABC):
    """A writer of cloud posture results (``yamori cloud aws``): findings over resources of a
    snapshot, scored against a framework. A separate contract from ``ReportWriter`` because the
    input differs (no artifact or packages; a snapshot, a framework and its summary instead)."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def write(self, result: PostureResult, out: TextIO, options: ReportOptions) -> None:
        """Write the whole result; collection errors are part of it (as ERROR findings)."""
