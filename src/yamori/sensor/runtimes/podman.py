"""podman (libpod): its REST API over the service socket, else ``podman container inspect``.

The REST API is cheap (no fork) but needs ``podman system service`` running; the CLI fallback
costs one fork per new container (cached by the resolver). Both answer the same inspect JSON,
which Docker's ``/containers/{id}/json`` shares in all the fields used here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime
from typing import Any

from yamori.sensor.interface import ContainerInfo, ContainerMount
from yamori.sensor.runtimes.unixhttp import get_json

__all__ = ["PodmanClient", "container_info_from_inspect", "default_podman_sockets", "parse_time_ns"]

K8S_NS = "io.kubernetes.pod.namespace"
K8S_POD = "io.kubernetes.pod.name"
K8S_UID = "io.kubernetes.pod.uid"


def parse_time_ns(text: Any) -> int | None:
    """RFC 3339 with nanoseconds (Go's format) → ns since the epoch; None for zero times."""
    if not isinstance(text, str) or not text or text.startswith("0001-"):
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    if not m:
        return None
    base = datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    frac = (m.group(2) or "0")[:9].ljust(9, "0")
    return int(base.timestamp()) * 1_000_000_000 + int(frac)


def inspect_mounts(doc: dict[str, Any]) -> tuple[ContainerMount, ...]:
    """``Mounts`` of a podman or docker inspect document."""
    out = []
    for m in doc.get("Mounts") or []:
        if isinstance(m, dict):
            out.append(
                ContainerMount(
                    source=str(m.get("Source") or m.get("Name") or ""),
                    dest=str(m.get("Destination") or ""),
                    mode=str(m.get("Mode") or ""),
                    rdwr=bool(m.get("RW", True)),
                    propagation=str(m.get("Propagation") or ""),
                )
            )
    return tuple(out)


def container_info_from_inspect(doc: dict[str, Any]) -> ContainerInfo:
    """A ``ContainerInfo`` from one ``podman inspect`` / libpod REST / docker inspect object."""
    config = doc.get("Config") or {}
    host = doc.get("HostConfig") or {}
    labels = config.get("Labels") or {}
    labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    health = config.get("Healthcheck") or {}
    test = health.get("Test") if isinstance(health, dict) else None
    image = doc.get("ImageName") or config.get("Image")
    graph = doc.get("GraphDriver") or {}
    upper = (graph.get("Data") or {}).get("UpperDir") if isinstance(graph, dict) else None
    return ContainerInfo(
        id=str(doc.get("Id", "")),
        name=str(doc.get("Name", "")).lstrip("/") or None,
        image=str(image) if image else None,
        image_id=str(doc.get("Image")) if doc.get("Image") else None,
        image_digest=str(doc.get("ImageDigest")) if doc.get("ImageDigest") else None,
        privileged=bool(host.get("Privileged")) if "Privileged" in host else None,
        mounts=inspect_mounts(doc),
        labels=labels,
        runtime="podman" if "ImageName" in doc else "docker",
        start_ns=parse_time_ns((doc.get("State") or {}).get("StartedAt")),
        healthcheck=" ".join(str(t) for t in test) if isinstance(test, list) else None,
        upper_dir=str(upper) if isinstance(upper, str) and upper else None,
        # pods of kubelet's dockershim, or `podman kube play`, carry the kubelet's labels
        k8s_ns=labels.get(K8S_NS),
        k8s_pod_name=labels.get(K8S_POD),
        k8s_pod_uid=labels.get(K8S_UID),
    )


def default_podman_sockets() -> list[str]:
    env = os.environ.get("YAMORI_PODMAN_SOCKET")
    if env:
        return [env]
    return ["/run/podman/podman.sock"]


class PodmanClient:
    """podman's libpod REST API on the first socket that exists, else the ``podman`` CLI."""

    name = "podman"

    def __init__(
        self, sockets: list[str] | None = None, podman: str | None = None, *, timeout: float = 5.0
    ) -> None:
        self.sockets = sockets if sockets is not None else default_podman_sockets()
        self.podman = podman
        self.timeout = timeout

    @property
    def socket(self) -> str:
        for path in self.sockets:
            if os.path.exists(path):
                return path
        return self.sockets[0] if self.sockets else ""

    def available(self) -> bool:
        return self.podman is not None or any(os.path.exists(p) for p in self.sockets)

    def inspect(self, container_id: str) -> ContainerInfo | None:
        doc = self.inspect_doc(container_id)
        return container_info_from_inspect(doc) if doc is not None else None

    def inspect_doc(self, container_id: str) -> dict[str, Any] | None:
        for path in self.sockets:
            if not os.path.exists(path):
                continue
            doc = get_json(path, f"/v4.0.0/libpod/containers/{container_id}/json", self.timeout)
            if doc is not None:
                return doc
        if self.podman is None:
            return None
        try:
            proc = subprocess.run(
                [self.podman, "container", "inspect", "--format", "json", container_id],
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if proc.returncode != 0:
            return None
        try:
            docs = json.loads(proc.stdout)
        except ValueError:
            return None
        if isinstance(docs, list) and docs and isinstance(docs[0], dict):
            return docs[0]
        return None

    def close(self) -> None:
        pass
