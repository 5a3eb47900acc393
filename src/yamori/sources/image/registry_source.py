"""Registry references (`host/repo:tag`, `repo@sha256:…`, `docker.io/library/alpine`): the default.

Resolves the reference to one image manifest (choosing a platform from an index or manifest
list), verifies the manifest when the reference pins a digest and verifies the config blob;
layer blobs are streamed straight from the HTTP response into the pipeline, which verifies each
against its digest as it reads.
"""

from __future__ import annotations

from typing import IO, Any

from yamori.scan.errors import ScanError
from yamori.sources.image.common import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V1,
    DOCKER_MANIFEST_V1_SIGNED,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_DOCUMENT_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    check_config_type,
    check_digest_syntax,
    digest_of,
    document_media_type,
    load_json,
    manifest_layers,
    select_platform,
    unknown_media_type,
    verify_bytes,
)
from yamori.sources.image.registry_client import Reference, RegistryClient, parse_reference
from yamori.sources.interface import Image, ImageSource, LayerBlob, SourceOptions
from yamori.sources.registry import register

ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST]


class RegistryBlob(LayerBlob):
    """A layer fetched on demand; `open()` starts the download."""

    def __init__(self, client: RegistryClient, digest: str, media_type: str, size: int, diff_id: str) -> None:
        self._client = client
        self.digest = digest
        self.media_type = media_type
        self.size = size
        self.diff_id = diff_id

    def open(self) -> IO[bytes]:
        return self._client.open_blob(self.digest, "layer")


@register
class RegistrySource(ImageSource):
    prefix = "registry"
    description = "OCI/Docker registry: [host[:port]/]repo[:tag][@digest]"

    def open(self, reference: str, options: SourceOptions) -> Image:
        ref = parse_reference(reference)
        client = RegistryClient(ref, options)
        # The client is not closed here: its layers are read later, through the returned image.
        return resolve_image(client, ref, options)


def _fetch_manifest(
    client: RegistryClient, ref: Reference, reference: str, expected: str
) -> tuple[dict[str, Any], str, str]:
    """(document, media type, digest) of one manifest, verified when `expected` pins a digest."""
    body, content_type, header_digest = client.get_manifest(reference, ACCEPT)
    where = f"{ref}: manifest {reference}"
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ScanError(f"{where}: larger than {MAX_DOCUMENT_BYTES} bytes; refusing it")
    if expected:
        verify_bytes(body, expected, where)
        digest = expected
    else:
        algorithm = header_digest.split(":", 1)[0] if header_digest else "sha256"
        digest = digest_of(body, algorithm if algorithm in ("sha256", "sha512") else "sha256")
        if header_digest and header_digest != digest:
            raise ScanError(f"{where}: digest mismatch: registry says {header_digest}, content is {digest}")
    if content_type in (DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED):
        raise ScanError(
            f"{ref}: the registry only has a Docker v1 (schema 1) manifest, which is deprecated "
            "and unsupported; push the image again with a current Docker or skopeo"
        )
    doc = load_json(body, where)
    declared = content_type if content_type not in ("", "application/json", "text/plain") else ""
    return doc, document_media_type(doc, declared), digest


def resolve_image(client: RegistryClient, ref: Reference, options: SourceOptions) -> Image:
    """Manifest (through an index if needed) → config → layers."""
    name = str(ref)
    doc, media_type, digest = _fetch_manifest(client, ref, ref.reference, ref.digest)
    top_digest = digest  # what `docker pull` reports as the repo digest, index or not
    if media_type in INDEX_TYPES:
        desc = select_platform(doc, options.platform, name)
        child = check_digest_syntax(str(desc.get("digest", "")), name)
        doc, media_type, digest = _fetch_manifest(client, ref, child, child)
    if media_type not in MANIFEST_TYPES:
        raise unknown_media_type(media_type, name)
    config_desc = check_config_type(doc, name)
    config_digest = str(config_desc["digest"])
    config_bytes = client.get_blob(config_digest, "config", MAX_DOCUMENT_BYTES)
    verify_bytes(config_bytes, config_digest, f"{name}: config")
    config = load_json(config_bytes, f"{name}: config")

    def make_blob(layer_digest: str, layer_type: str, size: int, diff_id: str) -> LayerBlob:
        return RegistryBlob(client, layer_digest, layer_type, size, diff_id)

    layers = manifest_layers(doc, name, make_blob, config)
    repo = f"{ref.registry}/{ref.repository}"
    return Image(
        name=name,
        config=config,
        layers=layers,
        manifest_digest=digest,
        config_digest=config_digest,
        repo_tags=[f"{repo}:{ref.tag}"] if ref.tag else [],
        repo_digests=[f"{repo}@{top_digest}"],
    )
