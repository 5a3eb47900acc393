"""Stored posture scans: the snapshot and its findings, zstd-compressed JSON in the data dir.

Layout: ``<data dir>/cloud/<provider>/<scope>/<UTC timestamp>.json.zst``, where ``scope`` is the
account id for a one-account scan and ``multi-<8 hex>`` (a hash of the sorted account ids) for
several, so the scans of one organisation are diffed with each other and never with a
single-account run. File names sort by time; only the newest ``keep`` files of a scope are kept.

Why the snapshot *and* the findings: the snapshot lets ``--from-snapshot`` re-evaluate new or
changed policies without calling AWS; the findings let ``yamori cloud diff`` compare what was
reported then with what is reported now, even after policies changed.

The document is written to a temporary file and renamed, so a crash never leaves half a scan
that ``latest`` would pick up.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from yamori.config import data_dir
from yamori.model.finding import Finding
from yamori.model.resource import Snapshot
from yamori.posture.result import PostureResult, finding_from_json, finding_to_json

__all__ = [
    "DEFAULT_KEEP",
    "SCAN_FORMAT",
    "StoreError",
    "StoredScan",
    "list_scans",
    "read_scan",
    "resolve_scan",
    "save_scan",
    "scans_root",
    "scope_name",
    "write_document",
]

SCAN_FORMAT: Final = 1
DEFAULT_KEEP: Final = 30
SUFFIX: Final = ".json.zst"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_LEVEL: Final = 6  # ratio close to level 19 on JSON at a small fraction of the time


class StoreError(ValueError):
    """A stored scan is missing or unreadable; the message is one line."""


@dataclass(slots=True)
class StoredScan:
    """A scan read back: its snapshot, and its findings (None for a bare snapshot file)."""

    path: Path
    snapshot: Snapshot
    findings: list[Finding] | None
    framework: str | None = None
    warnings: list[str] = field(default_factory=list)


def scans_root(provider: str = "aws") -> Path:
    return data_dir() / "cloud" / provider


def scope_name(accounts: Sequence[str]) -> str:
    if len(accounts) == 1:
        return accounts[0]
    digest = hashlib.sha256(",".join(sorted(accounts)).encode()).hexdigest()[:8]
    return f"multi-{digest}"


def scan_document(result: PostureResult) -> dict[str, Any]:
    return {
        "format": SCAN_FORMAT,
        "type": "yamori-cloud-scan",
        "framework": result.framework.id if result.framework else None,
        "policies": [p.id for p in result.policies],
        "warnings": result.warnings,
        "findings": [finding_to_json(f) for f in result.findings],
        "snapshot": result.snapshot.to_json(),
    }


def write_document(path: Path, doc: dict[str, Any]) -> None:
    """JSON, zstd-compressed when the name ends in ``.zst``; atomic (temp file + rename)."""
    data = orjson.dumps(doc)
    if path.name.endswith(".zst"):
        import zstandard

        data = zstandard.ZstdCompressor(level=_LEVEL).compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_scan(result: PostureResult, keep: int = DEFAULT_KEEP, root: Path | None = None) -> Path:
    """Store ``result`` under its scope; prune the scope to the newest ``keep`` scans."""
    directory = (root or scans_root(result.snapshot.provider)) / scope_name(result.snapshot.accounts)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = directory / f"{stamp}{SUFFIX}"
    result.stored_at = str(path)
    write_document(path, scan_document(result))
    if keep > 0:
        for old in sorted(directory.glob(f"*{SUFFIX}"))[:-keep]:
            old.unlink(missing_ok=True)
    return path


def _load(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        if data.startswith(_ZSTD_MAGIC):
            import zstandard

            data = zstandard.ZstdDecompressor().stream_reader(data).read()
        doc = orjson.loads(data)
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise StoreError(f"{path}: not a yamori scan or snapshot: {exc}") from None
    if not isinstance(doc, dict):
        raise StoreError(f"{path}: not a yamori scan or snapshot")
    return doc


def read_scan(path: Path) -> StoredScan:
    """A stored scan, a ``--save-snapshot`` file, or a bare ``Snapshot.to_json()`` document."""
    doc = _load(path)
    try:
        if doc.get("type") == "yamori-cloud-scan":
            if doc.get("format") != SCAN_FORMAT:
                raise StoreError(f"{path}: unsupported scan format {doc.get('format')!r}")
            return StoredScan(
                path=path,
                snapshot=Snapshot.from_json(doc["snapshot"]),
                findings=[finding_from_json(f) for f in doc.get("findings", [])],
                framework=doc.get("framework"),
                warnings=list(doc.get("warnings", [])),
            )
        return StoredScan(path=path, snapshot=Snapshot.from_json(doc), findings=None)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, StoreError):
            raise
        raise StoreError(f"{path}: not a yamori scan or snapshot: {type(exc).__name__}: {exc}") from None


def list_scans(root: Path | None = None) -> list[Path]:
    """Every stored scan of every scope, oldest first (file names are UTC timestamps)."""
    base = root or scans_root()
    if not base.is_dir():
        return []
    return sorted(base.glob(f"*/*{SUFFIX}"), key=lambda p: (p.name, str(p)))


def resolve_scan(ref: str, root: Path | None = None) -> Path:
    """``latest`` (newest scan of any scope), ``previous`` (the one before it in the same scope)
    or a path."""
    if ref not in ("latest", "previous"):
        path = Path(ref)
        if not path.is_file():
            raise StoreError(f"{ref}: no such scan file (or use 'latest' / 'previous')")
        return path
    scans = list_scans(root)
    if not scans:
        raise StoreError(f"no stored scans in {root or scans_root()}; run `yamori cloud aws` first")
    latest = scans[-1]
    if ref == "latest":
        return latest
    same_scope = [p for p in scans if p.parent == latest.parent]
    if len(same_scope) < 2:
        raise StoreError(f"only one stored scan for {latest.parent.name}; 'previous' needs two")
    return same_scope[-2]
