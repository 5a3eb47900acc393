"""Layer results cached by blob digest, so a rescan only reads layers it has not seen.

One zstd-compressed JSON file per layer under `<cache>/layers/`. The file records the catalogers'
cache key; when a cataloger changes its version the entry no longer matches and is recomputed.
Writes go through a temporary file and a rename, so a crash never leaves a half-written entry.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import orjson
import zstandard

from yamori.scan.layer import LayerAnalysis

FORMAT_VERSION = 1


class LayerCache:
    def __init__(self, directory: Path, catalogers_key: str) -> None:
        self.directory = directory / "layers"
        self.key = f"{FORMAT_VERSION}|{catalogers_key}"

    def _path(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        if not hexdigest or not hexdigest.isalnum() or not algorithm.isalnum():
            raise ValueError(f"not a digest: {digest!r}")
        return self.directory / algorithm / f"{hexdigest}.json.zst"

    def get(self, digest: str) -> LayerAnalysis | None:
        try:
            raw = self._path(digest).read_bytes()
            data = orjson.loads(zstandard.ZstdDecompressor().decompress(raw))
        except (OSError, ValueError, zstandard.ZstdError):
            return None
        if data.get("key") != self.key:
            return None
        return LayerAnalysis.from_dict(data["analysis"])

    def put(self, digest: str, analysis: LayerAnalysis) -> None:
        path = self._path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = orjson.dumps({"key": self.key, "analysis": analysis.to_dict()})
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(zstandard.ZstdCompressor(level=3).compress(payload))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
