"""The contract between the vulnerability database and the matcher.

The database (yamori.vulndb.store) ingests OSV records, CISA KEV and FIRST EPSS into a local
index; the matcher (yamori.vulndb.matcher) only asks it these questions, so it can be tested
against an in-memory implementation and the store can change without touching matching.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True, frozen=True)
class KevEntry:
    cve: str
    known_ransomware: bool
    date_added: str = ""
    due_date: str = ""


@dataclass(slots=True, frozen=True)
class EpssScore:
    cve: str
    score: float  # probability of exploitation in the next 30 days
    percentile: float


class VulnerabilitySource(ABC):
    """Read side of the vulnerability database."""

    @abstractmethod
    def records(self, ecosystem: str, name: str) -> list[dict[str, Any]]:
        """OSV records (parsed JSON, schema 1.x) that name this package in `affected[]`.

        `ecosystem` is the OSV ecosystem as the record spells it, with its release suffix for
        distros (`Debian:12`, `Alpine:v3.20`, `PyPI`, `Go`); `name` is normalised the way the
        ecosystem requires (PEP 503 for PyPI, case kept for Go, lower-case where the ecosystem
        says so) — use `normalize_name` so the two sides agree. Withdrawn records are not returned.
        """

    @abstractmethod
    def kev(self, cves: Iterable[str]) -> dict[str, KevEntry]:
        """KEV entries for those of `cves` that CISA lists."""

    @abstractmethod
    def epss(self, cves: Iterable[str]) -> dict[str, EpssScore]:
        """EPSS scores for those of `cves` that FIRST scores."""


def normalize_name(ecosystem: str, name: str) -> str:
    """The index key of a package name in an ecosystem (shared by ingestion and matching)."""
    stem = ecosystem.split(":", 1)[0]
    if stem == "PyPI":
        import re

        return re.sub(r"[-_.]+", "-", name).lower()
    if stem in ("npm", "crates.io", "Packagist", "NuGet", "Hex", "Pub"):
        return name.lower()
    return name
