"""Docker Engine: ``GET /containers/{id}/json`` (and ``/images/{id}/json`` for the repo digest)
over ``/var/run/docker.sock``.

The container document gives the name, the reference it was created from (``Config.Image``),
the image id (``Image``), labels, ``HostConfig.Privileged``, mounts and the overlay2 upper
directory; the manifest digest is only on the image (``RepoDigests``), and only for images
pulled from or pushed to a registry (``docker load`` leaves it empty).
"""

from __future__ import annotations

import dataclasses
import os
from urllib.parse import quote

from yamori.sensor.interface import ContainerInfo
from yamori.sensor.runtimes.podman import container_info_from_inspect
from yamori.sensor.runtimes.unixhttp import get_json

__all__ = ["DEFAULT_DOCKER_SOCKET", "DockerClient", "default_docker_socket", "pick_repo_digest"]

DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
API = "/v1.41"  # Docker 20.10; every later engine accepts it


def default_docker_socket() -> str:
    env = os.environ.get("YAMORI_DOCKER_SOCKET")
    if env:
        return env
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return DEFAULT_DOCKER_SOCKET


def pick_repo_digest(image: str | None, repo_digests: list[str]) -> str | None:
    """The ``sha256:...`` of the repo digest for the image's repository (else the first)."""
    if not repo_digests:
        return None
    wanted = _repository(image) if image else None
    for entry in repo_digests:
        repo, _, digest = entry.partition("@")
        if wanted is not None and _repository(repo) == wanted and digest:
            return digest
    return repo_digests[0].partition("@")[2] or None


def _repository(ref: str) -> str:
    """``nginx:1.25`` → ``docker.io/library/nginx`` (the forms docker stores differ)."""
    ref = ref.partition("@")[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref = ref[:colon]
    first = ref.split("/", 1)[0]
    if "/" not in ref:
        ref = f"docker.io/library/{ref}"
    elif "." not in first and ":" not in first and first != "localhost":
        ref = f"docker.io/{ref}"
    return ref


class DockerClient:
    name = "docker"

    def __init__(self, socket: str | None = None, *, timeout: float = 5.0) -> None:
        self.socket = socket if socket is not None else default_docker_socket()
        self.timeout = timeout

    def available(self) -> bool:
        return bool(self.socket) and os.path.exists(self.socket)

    def inspect(self, container_id: str) -> ContainerInfo | None:
        if not self.available():
            return None
        doc = get_json(self.socket, f"{API}/containers/{quote(container_id)}/json", self.timeout)
        if doc is None:
            return None
        info = container_info_from_inspect(doc)
        digest = None
        if info.image_id:
            image = get_json(self.socket, f"{API}/images/{quote(info.image_id)}/json", self.timeout)
            repo_digests = (image or {}).get("RepoDigests") or []
            if isinstance(repo_digests, list):
                digest = pick_repo_digest(info.image, [str(d) for d in repo_digests])
        return dataclasses.replace(info, runtime="docker", image_digest=digest)

    def close(self) -> None:
        pass
