"""Read an SBOM document (CycloneDX or SPDX JSON, from yamori or another tool) as a scan result.

`yamori sbom FILE` and every engine downstream then treat the document's packages exactly like
packages a scan found, so vulnerability matching works on SBOMs from anywhere.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from yamori.model import ScanResult
from yamori.scan.errors import ScanError
from yamori.sources.sbom.cyclonedx import CycloneDXReader
from yamori.sources.sbom.interface import SBOMReader
from yamori.sources.sbom.spdx import SPDXReader

__all__ = ["READERS", "SBOMReader", "read_sbom"]

READERS: list[SBOMReader] = [CycloneDXReader(), SPDXReader()]

# Far above any real SBOM (a large image's is tens of MB); stops a stray multi-GB file early.
MAX_BYTES = 1 << 30


def read_sbom(path: Path) -> ScanResult:
    """Parse `path` and hand it to the reader whose format it is.

    Raises `ScanError` with a one-line reason when the file cannot be read, is not JSON, or is
    JSON of no known SBOM format.
    """
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ScanError(f"too large for an SBOM document (over {MAX_BYTES >> 20} MiB)")
        data = path.read_bytes()
    except OSError as exc:
        raise ScanError(f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ScanError(f"not valid JSON ({exc}); expected a CycloneDX or SPDX JSON SBOM") from exc
    if not isinstance(document, dict):
        raise ScanError("JSON but not an object; expected a CycloneDX or SPDX JSON SBOM")
    for reader in READERS:
        if reader.accepts(document):
            try:
                return reader.read(document, path)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                # A document whose top level says CycloneDX/SPDX but whose body has the wrong
                # shapes: say so in one line instead of a traceback.
                raise ScanError(f"malformed {reader.name} document ({exc})") from exc
    if "spdxVersion" in document:
        raise ScanError(
            f"unsupported SPDX version {document.get('spdxVersion')!r}; only SPDX 2.x JSON is read"
        )
    if "@context" in document:
        raise ScanError("SPDX 3 / JSON-LD documents are not supported; use SPDX 2.3 JSON")
    raise ScanError("not a recognised SBOM (no CycloneDX 'bomFormat' nor SPDX 'spdxVersion' field)")
