"""The contracts every target source fulfils.

An image source turns a reference into an `Image`: its config and an ordered list of
`LayerBlob`s that can each be opened once as a raw (possibly compressed) byte stream. The scan
pipeline never cares where the bytes come from: a registry, an OCI layout, a docker archive or
containers-storage all look the same from here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar


@dataclass(slots=True)
class SourceOptions:
    """Everything a source may need from the command line or the environment."""

    platform: str | None = None  # os/arch[/variant]; default: the host's
    insecure: bool = False  # plain HTTP (and unverified TLS) for registries
    username: str | None = None
    password: str | None = None
    registry_token: str | None = None
    docker_config: Path | None = None  # default ~/.docker/config.json or $DOCKER_CONFIG
    timeout: float = 60.0
    storage_root: Path | None = None  # containers-storage graph root
    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class LayerBlob(ABC):
    """One layer of an image as stored: compressed or not, verified against `digest` on read."""

    digest: str
    media_type: str
    size: int
    diff_id: str  # uncompressed digest from the image config ("" when unknown)

    @abstractmethod
    def open(self) -> IO[bytes]:
        """The raw blob bytes. The caller closes the stream and verifies the digest."""


@dataclass(slots=True)
class Image:
    """A resolved image: identity, config and layers in order (base first)."""

    name: str
    config: dict[str, Any]
    layers: list[LayerBlob]
    manifest_digest: str = ""
    config_digest: str = ""
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    # True when blob bytes must be hashed and compared with the digest (always, except for
    # stores that have already verified them, like containers-storage's uncompressed layers).
    verify_digests: bool = True


class ImageSource(ABC):
    """Resolves references with a given prefix (`oci:`, `docker-archive:`…) into images."""

    prefix: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def open(self, reference: str, options: SourceOptions) -> Image:
        """`reference` is the part after the prefix. Raise `ScanError` with a one-line message."""
