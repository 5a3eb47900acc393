"""Container identity from cgroups, container metadata from the runtime.

Identity: every runtime puts a container's processes in a cgroup whose name carries the
container id (64 hex digits). The patterns differ by runtime and cgroup manager:

- podman/libpod: ``libpod-<id>`` (cgroupfs) or ``libpod-<id>.scope`` (systemd); conmon lives in
  ``libpod-conmon-<id>`` and is *not* in the container;
- docker: ``/docker/<id>`` (cgroupfs) or ``docker-<id>.scope``;
- containerd (CRI): ``cri-containerd-<id>.scope`` or ``/kubepods/.../<id>``;
- CRI-O: ``crio-<id>.scope`` (``crio-conmon-<id>`` is the monitor).

Metadata: podman's REST API over its unix socket when a service is running (cheap, no fork),
else ``podman inspect`` (one fork per new container, cached). A container that has gone (or a
runtime that does not answer) gives a ``ContainerInfo`` with only the id: fields print ``<NA>``
and the sensor never fails on it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from yamori.sensor.interface import ContainerInfo

__all__ = [
    "ContainerResolver",
    "container_id_from_cgroup_line",
    "container_id_from_cgroup_name",
    "container_id_of_pid",
    "container_info_from_inspect",
]

_ID = r"[0-9a-f]{64}"
_NAME_PATTERNS = (
    re.compile(rf"^libpod-(?!conmon-)({_ID})(?:\.scope)?$"),
    re.compile(rf"^docker-({_ID})(?:\.scope)?$"),
    re.compile(rf"^cri-containerd-({_ID})(?:\.scope)?$"),
    re.compile(rf"^crio-(?!conmon-)({_ID})(?:\.scope)?$"),
    re.compile(rf"^({_ID})$"),
)


def container_id_from_cgroup_name(name: str) -> str | None:
    """The full container id in one cgroup directory name, or None."""
    for pattern in _NAME_PATTERNS:
        m = pattern.match(name)
        if m:
            return m.group(1)
    return None


def container_id_from_cgroup_line(path: str) -> str | None:
    """The container id in a cgroup path (``/libpod_parent/libpod-<id>/...``): the deepest
    directory that names one (a container may create cgroups below its own)."""
    found = None
    for part in path.split("/"):
        cid = container_id_from_cgroup_name(part)
        if cid is not None:
            found = cid
    return found


def container_id_of_pid(pid: int, proc: Path = Path("/proc")) -> str | None:
    """``host`` for a host process, the full id for a container's, None when the pid is gone."""
    try:
        text = (proc / str(pid) / "cgroup").read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        _, _, path = line.partition(":")
        _, _, path = path.partition(":")
        cid = container_id_from_cgroup_line(path)
        if cid is not None:
            return cid
    return "host"


def _parse_time_ns(text: Any) -> int | None:
    if not isinstance(text, str) or not text or text.startswith("0001-"):
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    if not m:
        return None
    base = datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    frac = (m.group(2) or "0")[:9].ljust(9, "0")
    return int(base.timestamp()) * 1_000_000_000 + int(frac)


def container_info_from_inspect(doc: dict[str, Any]) -> ContainerInfo:
    """A ``ContainerInfo`` from one ``podman inspect`` / libpod REST / docker inspect object."""
    config = doc.get("Config") or {}
    host = doc.get("HostConfig") or {}
    labels = config.get("Labels") or {}
    mounts = []
    for m in doc.get("Mounts") or []:
        if isinstance(m, dict):
            src, dst = m.get("Source", ""), m.get("Destination", "")
            mode = "rw" if m.get("RW", True) else "ro"
            mounts.append(f"{src}:{dst}:{mode}:{m.get('Propagation') or ''!s}")
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
        mounts=tuple(mounts),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        runtime="podman" if "ImageName" in doc else "docker",
        start_ns=_parse_time_ns((doc.get("State") or {}).get("StartedAt")),
        healthcheck=" ".join(str(t) for t in test) if isinstance(test, list) else None,
        upper_dir=str(upper) if isinstance(upper, str) and upper else None,
    )


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (the podman and docker APIs)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def _default_sockets() -> list[str]:
    env = os.environ.get("YAMORI_PODMAN_SOCKET")
    if env:
        return [env]
    return ["/run/podman/podman.sock"]


class ContainerResolver:
    """Container metadata by id, cached; lookups that fail are cached too (briefly).

    Lookups run in the caller's thread: the first event of a new container pays one API call
    or one ``podman inspect`` (tens of milliseconds), every later event a dict lookup.
    """

    def __init__(
        self,
        sockets: list[str] | None = None,
        podman: str | None = None,
        *,
        limit: int = 1024,
        retry_after: float = 5.0,
        timeout: float = 5.0,
    ) -> None:
        self.sockets = sockets if sockets is not None else _default_sockets()
        self.podman = podman if podman is not None else shutil.which("podman")
        self.limit = limit
        self.retry_after = retry_after
        self.timeout = timeout
        self.lookups = 0
        self.failures = 0
        self._cache: OrderedDict[str, tuple[float, ContainerInfo, bool]] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[ContainerInfo]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def prefetch(self, container_id: str) -> None:
        """Start looking a container up in the background, unless known or already under way.

        Why: ``podman run --rm IMAGE cat /etc/shadow`` lives for milliseconds and the runtime
        forgets the container right after; by the time the rules ask for ``container.name`` the
        inspect would fail. The runner calls this as soon as a record names a new container
        (conmon's exec names it before the container's first process even starts).
        """
        with self._lock:
            if container_id in self._cache or container_id in self._inflight:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="container-lookup")
            self._inflight[container_id] = self._pool.submit(self._lookup, container_id)

    def get(self, container_id: str) -> ContainerInfo:
        """Metadata for a full or short id; an id-only record when the runtime does not know it."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(container_id)
            if hit is not None and (hit[2] or now - hit[0] < self.retry_after):
                self._cache.move_to_end(container_id)
                return hit[1]
            pending = self._inflight.get(container_id)
        if pending is not None:
            try:
                return pending.result(timeout=self.timeout + 1)
            except Exception:  # a failed background lookup: fall through to a fresh one
                pass
        return self._lookup(container_id)

    def _lookup(self, container_id: str) -> ContainerInfo:
        now = time.monotonic()
        self.lookups += 1
        doc = self._inspect(container_id)
        if doc is not None:
            info, ok = container_info_from_inspect(doc), True
        else:
            self.failures += 1
            info, ok = ContainerInfo(id=container_id), False
        with self._lock:
            self._cache[container_id] = (now, info, ok)
            self._inflight.pop(container_id, None)
            while len(self._cache) > self.limit:
                self._cache.popitem(last=False)
        return info

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _inspect(self, container_id: str) -> dict[str, Any] | None:
        for path in self.sockets:
            if not os.path.exists(path):
                continue
            doc = self._api(path, container_id)
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

    def _api(self, path: str, container_id: str) -> dict[str, Any] | None:
        conn = _UnixHTTPConnection(path, self.timeout)
        try:
            conn.request("GET", f"/v4.0.0/libpod/containers/{container_id}/json")
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                return None
            doc = json.loads(body)
            return doc if isinstance(doc, dict) else None
        except (OSError, ValueError, http.client.HTTPException):
            return None
        finally:
            conn.close()
