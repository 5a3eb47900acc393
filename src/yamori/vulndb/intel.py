"""Threat intelligence files: CISA KEV (JSON) and FIRST EPSS (daily CSV, usually gzipped).

Both are parsed from bytes already on disk so that `db update` (downloaded) and `db import`
(air-gapped copy) share one code path. Malformed entries are counted and skipped, not fatal:
one broken line in a 300,000-line EPSS file must not cost the other scores.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from yamori.vulndb.interface import EpssScore, KevEntry

#: Public locations, for the config file or `--kev/--epss` (not fetched unless asked).
KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
EPSS_URL = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"

MAX_INTEL_BYTES = 512 * 1024 * 1024  # decompressed; EPSS is ~10 MB today


class IntelError(ValueError):
    """The file as a whole is unusable; one line."""


@dataclass(slots=True)
class KevCatalog:
    entries: list[KevEntry]
    version: str = ""
    released: str = ""
    skipped: int = 0


@dataclass(slots=True)
class EpssFile:
    scores: list[EpssScore] = field(default_factory=list)
    model_version: str = ""
    score_date: str = ""
    skipped: int = 0


def parse_kev(path: Path) -> KevCatalog:
    """CISA's catalog: `vulnerabilities[].cveID`, `knownRansomwareCampaignUse`, dates."""
    try:
        doc: Any = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise IntelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except orjson.JSONDecodeError as exc:
        raise IntelError(f"{path}: KEV catalog is not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
        raise IntelError(f"{path}: not a KEV catalog (no 'vulnerabilities' list)")
    catalog = KevCatalog(
        entries=[], version=str(doc.get("catalogVersion", "")), released=str(doc.get("dateReleased", ""))
    )
    for item in doc["vulnerabilities"]:
        cve = item.get("cveID") if isinstance(item, dict) else None
        if not isinstance(cve, str) or not cve.startswith("CVE-"):
            catalog.skipped += 1
            continue
        catalog.entries.append(
            KevEntry(
                cve=cve,
                known_ransomware=str(item.get("knownRansomwareCampaignUse", "")).lower() == "known",
                date_added=str(item.get("dateAdded", "")),
                due_date=str(item.get("dueDate", "")),
            )
        )
    return catalog


def _read_text(path: Path) -> str:
    """The file's text, gunzipped when it starts with the gzip magic (name is not trusted)."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(2)
            handle.seek(0)
            if magic == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=handle) as unzipped:
                    data = unzipped.read(MAX_INTEL_BYTES + 1)
            else:
                data = handle.read(MAX_INTEL_BYTES + 1)
    except OSError as exc:  # includes gzip.BadGzipFile and truncated streams (EOFError below)
        raise IntelError(f"{path}: cannot read ({exc})") from None
    except EOFError:
        raise IntelError(f"{path}: truncated gzip file") from None
    if len(data) > MAX_INTEL_BYTES:
        raise IntelError(f"{path}: larger than any EPSS file")
    return data.decode("utf-8", errors="replace")


def parse_epss(path: Path, on_warning: Callable[[str], None] | None = None) -> EpssFile:
    """FIRST's layout: `#model_version:…,score_date:…`, then `cve,epss,percentile` rows."""
    text = _read_text(path)
    lines = io.StringIO(text)
    result = EpssFile()
    first = lines.readline()
    if first.startswith("#"):
        for part in first[1:].strip().split(","):
            key, _, value = part.partition(":")
            if key.strip() == "model_version":
                result.model_version = value.strip()
            elif key.strip() == "score_date":
                result.score_date = value.strip()
    else:
        lines.seek(0)
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:3]] != ["cve", "epss", "percentile"]:
        raise IntelError(f"{path}: not an EPSS file (expected header 'cve,epss,percentile')")
    for row in reader:
        try:
            cve, score, percentile = row[0], float(row[1]), float(row[2])
        except (IndexError, ValueError):
            result.skipped += 1
            continue
        if not cve.startswith("CVE-") or not (0.0 <= score <= 1.0) or not (0.0 <= percentile <= 1.0):
            result.skipped += 1
            continue
        result.scores.append(EpssScore(cve=cve, score=score, percentile=percentile))
    if result.skipped and on_warning:
        on_warning(f"{path}: {result.skipped} malformed EPSS rows skipped")
    return result
