"""The report-writer contract: one module per output format, each registered by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, TextIO

if TYPE_CHECKING:  # annotations only: the registry imports this module at start-up
    from yamori.model import ScanResult


class ReportWriter(ABC):
    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def write(self, result: ScanResult, out: TextIO) -> None:
        """Write the whole result. Writers never drop `result.errors`: they are part of it."""
