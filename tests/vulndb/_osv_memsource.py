"""An in-memory `VulnerabilitySource` for matcher tests: the real store is written elsewhere,
and the matcher must only depend on the interface."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from yamori.vulndb.interface import EpssScore, KevEntry, VulnerabilitySource, normalize_name

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "osv-records"
SHARED_CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"


class MemorySource(VulnerabilitySource):
    """Indexes records by (ecosystem, normalised name); deliberately keeps withdrawn ones so the
    matcher's own guard is tested too. Counts kev/epss calls to check batching."""

    def __init__(self, kev: dict[str, KevEntry] | None = None, epss: dict[str, EpssScore] | None = None):
        self._index: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._kev = kev or {}
        self._epss = epss or {}
        self.kev_calls = 0
        self.epss_calls = 0

    def add(self, record: dict[str, Any]) -> None:
        keys = {
            (a["package"]["ecosystem"], normalize_name(a["package"]["ecosystem"], a["package"]["name"]))
            for a in record.get("affected", [])
            if "package" in a
        }
        for key in keys:
            self._index.setdefault(key, []).append(record)

    def add_fixtures(self, directory: Path = FIXTURES) -> MemorySource:
        for path in sorted(directory.glob("*.json")):
            self.add(json.loads(path.read_text()))
        return self

    def add_zip(self, path: Path) -> MemorySource:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".json"):
                    self.add(json.loads(archive.read(name)))
        return self

    def records(self, ecosystem: str, name: str) -> list[dict[str, Any]]:
        return list(self._index.get((ecosystem, name), []))

    def kev(self, cves: Iterable[str]) -> dict[str, KevEntry]:
        self.kev_calls += 1
        return {c: self._kev[c] for c in cves if c in self._kev}

    def epss(self, cves: Iterable[str]) -> dict[str, EpssScore]:
        self.epss_calls += 1
        return {c: self._epss[c] for c in cves if c in self._epss}
