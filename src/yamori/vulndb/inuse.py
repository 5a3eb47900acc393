"""Packages in use: the sensor's record of used paths mapped onto a scan's packages, and the ranking.

The sensor (``yamori.sensor.inuse``) writes, per image, the paths container processes executed,
opened for reading and mapped. Mapping them to packages happens here, at read time, because only
the scan knows which files each package owns (``Package.files``, from dpkg ``.list`` files, the
rpm and apk databases, Python RECORD files...).

Two kinds of aliasing make a literal comparison miss:

- **merged /usr**: on current Debian and Fedora ``/bin``, ``/sbin`` and ``/lib*`` are symlinks
  into ``/usr``, but packages may still list ``/lib/x86_64-linux-gnu/libc.so.6`` while the loader
  (and ``/proc/PID/maps``) say ``/usr/lib/...``. Both sides are compared in the ``/usr`` form.
  On an image without merged /usr this may pair ``/bin/x`` with ``/usr/bin/x``; distributions do
  not ship both from different packages, so the mapping stays right in practice.
- **symlinks**: a package owning ``/usr/bin/python3`` (a link) is used when ``python3.11`` runs.
  The sensor records link targets resolved inside the container; ``symlinks`` (link -> target,
  from an image listing when the caller has one) resolves chains here as well.

Ranking: ``in_use`` enters yamori's risk score as the U factor (``yamori.vulndb.risk``: 1.2
loaded, 0.5 watched and not loaded, neutral when unknown), and in-use findings are listed first.
A package that lists no files cannot be judged: it stays unknown (``None``), never "not in use".
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from yamori.model import FindingKind, Package, ScanResult
from yamori.vulndb.risk import risk_score

__all__ = [
    "InUseRecord",
    "apply_in_use",
    "canonical_path",
    "find_record",
    "load_record",
    "packages_in_use",
    "record_directory",
]

_MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_MAX_SCANNED = 1000  # record files read when looking a record up by its contents
_MAX_LINKS = 40


@dataclass(frozen=True, slots=True)
class InUseRecord:
    """One image's record as the sensor wrote it."""

    image: str | None
    digest: str | None
    image_id: str | None
    paths: frozenset[str]
    updated: str
    truncated: bool = False
    source: Path | None = None


def record_directory() -> Path:
    """Where the sensor writes its records: ``data_dir()/inuse``."""
    from yamori.config import data_dir

    return data_dir() / "inuse"


def _normalize(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return f"sha256:{value}"
    return value


def load_record(path: Path) -> InUseRecord | None:
    """A record file, or None when it is missing or not a record."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8", errors="surrogateescape"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), list):
        return None
    image, digest, image_id = doc.get("image"), doc.get("digest"), doc.get("image_id")
    return InUseRecord(
        image=image if isinstance(image, str) else None,
        digest=_normalize(digest) if isinstance(digest, str) else None,
        image_id=_normalize(image_id) if isinstance(image_id, str) else None,
        paths=frozenset(p for p in doc["paths"] if isinstance(p, str)),
        updated=str(doc.get("updated", "")),
        truncated=bool(doc.get("truncated")),
        source=path,
    )


def find_record(keys: Iterable[str | None], directory: Path | None = None) -> InUseRecord | None:
    """The record of an image known by any of ``keys`` (manifest digest, config digest / id).

    The sensor names a record after the digest podman reported (else the image id) and stores
    both inside; a scan may know the image by either, so try both names, then the contents.
    """
    directory = directory or record_directory()
    wanted = [k for k in (_normalize(key) for key in keys) if k and "/" not in k]
    for key in wanted:
        record = load_record(directory / f"{key}.json")
        if record is not None:
            return record
    try:
        files = sorted(directory.glob("*.json"))[:_MAX_SCANNED]
    except OSError:
        return None
    for path in files:
        record = load_record(path)
        if record is not None and {record.digest, record.image_id} & set(wanted):
            return record
    return None


def canonical_path(path: str) -> str:
    """A normalised absolute path in merged-/usr form (``/lib/x`` -> ``/usr/lib/x``)."""
    path = posixpath.normpath("/" + path.lstrip("/"))
    top, sep, _rest = path[1:].partition("/")
    if top in _MERGED and sep:
        return "/usr" + path
    return path


def _pyc_source(path: str) -> str | None:
    """``/d/__pycache__/m.cpython-311.pyc`` -> ``/d/m.py``: Python reads the bytecode cache, which
    no package lists (Debian compiles it at install), not the ``.py`` the package owns."""
    directory, _, name = path.rpartition("/")
    if not directory.endswith("/__pycache__") or not name.endswith(".pyc"):
        return None
    return f"{directory[: -len('/__pycache__')]}/{name.split('.', 1)[0]}.py"


def _resolve(path: str, symlinks: Mapping[str, str]) -> str:
    """``path`` with every link of ``symlinks`` (canonical link path -> target) followed."""
    parts = [p for p in canonical_path(path).split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        current = canonical_path("/" + "/".join([*done, part]))
        target = symlinks.get(current)
        if target is None or hops >= _MAX_LINKS:
            done = [p for p in current.split("/") if p]
            continue
        hops += 1
        base = "/" if target.startswith("/") else posixpath.dirname(current)
        joined = posixpath.normpath(posixpath.join(base, target))
        parts = [p for p in joined.split("/") if p] + parts
        done = []
    return canonical_path("/" + "/".join(done))


def packages_in_use(
    packages: Iterable[Package], paths: Iterable[str], symlinks: Mapping[str, str] | None = None
) -> dict[int, bool | None]:
    """``id(package)`` -> in use (True/False), or None for a package that lists no files.

    A package is in use when one of its files, or the file one of them resolves to through
    ``symlinks``, is among the recorded ``paths`` (all compared in merged-/usr form).
    """
    links = {canonical_path(k): v for k, v in (symlinks or {}).items()}
    used = {canonical_path(p) for p in paths}
    used |= {src for src in map(_pyc_source, used) if src}
    if links:
        used |= {_resolve(p, links) for p in used}
    result: dict[int, bool | None] = {}
    for pkg in packages:
        if not pkg.files:
            result[id(pkg)] = None
            continue
        hit = False
        for file in pkg.files:
            canon = canonical_path(file)
            if canon in used or (links and _resolve(canon, links) in used):
                hit = True
                break
        result[id(pkg)] = hit
    return result


def apply_in_use(
    result: ScanResult, directory: Path | None = None, symlinks: Mapping[str, str] | None = None
) -> str | None:
    """Mark packages and vulnerability findings of ``result`` with what the sensor saw in use.

    Packages get ``metadata["in_use"]``; vulnerability findings ``evidence["in_use"]`` (True,
    False, or None when the package lists no files) and their risk recomputed with the U factor;
    findings are reordered in-use first, then by risk. Returns a one-line warning instead, and
    changes nothing, when the sensor has no record for this image.
    """
    artifact = result.artifact
    keys = [artifact.digest, artifact.image_id, *(d.rsplit("@", 1)[-1] for d in artifact.repo_digests)]
    record = find_record(keys, directory)
    if record is None:
        name = artifact.digest or artifact.image_id or artifact.name
        return f"no in-use record for {name} (run `yamori sensor` while its containers run); nothing marked"
    usage = packages_in_use(result.packages, record.paths, symlinks)
    by_purl: dict[str, bool | None] = {}
    for pkg in result.packages:
        state = usage.get(id(pkg))
        pkg.metadata["in_use"] = state
        if pkg.purl and (state or by_purl.get(pkg.purl) is None):
            by_purl[pkg.purl] = state  # one copy in use makes the purl in use
    for finding in result.findings:
        details = finding.vulnerability
        if finding.kind is not FindingKind.VULNERABILITY or details is None:
            continue
        state = by_purl.get(details.purl)
        finding.evidence["in_use"] = state
        details.risk = risk_score(
            cvss_score=details.cvss_v4_score if details.cvss_v4_score is not None else details.cvss_v3_score,
            severity=finding.severity,
            kev=details.kev,
            ransomware=details.kev_ransomware,
            epss=details.epss_score,
            fix_state=details.fix_state,
            in_use=state,
        )
    order = {None: 1, True: 0, False: 2}
    result.findings.sort(
        key=lambda f: (
            order[f.evidence.get("in_use")] if f.kind is FindingKind.VULNERABILITY else 3,
            -(f.vulnerability.risk if f.vulnerability else 0.0),
            f.rule_id,
        )
    )
    return None
