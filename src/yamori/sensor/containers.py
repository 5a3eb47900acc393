"""Container identity from cgroups, container metadata from the runtime.

Identity: every runtime puts a container's processes in a cgroup whose name carries the
container id (64 hex digits). The patterns differ by runtime and cgroup manager:

- podman/libpod: ``libpod-<id>`` (cgroupfs) or ``libpod-<id>.scope`` (systemd); conmon lives in
  ``libpod-conmon-<id>`` and is *not* in the container;
- docker: ``/docker/<id>`` (cgroupfs) or ``docker-<id>.scope``;
- containerd (CRI): ``cri-containerd-<id>.scope``, ``/kubepods/.../<id>`` or ``/k8s.io/<id>``;
- CRI-O: ``crio-<id>.scope`` (``crio-conmon-<id>`` is the monitor).

Metadata: from the runtime, through one client per runtime (``sensor/runtimes/``): podman's
libpod REST API (else ``podman inspect``), Docker Engine's API, and the CRI of containerd and
CRI-O (gRPC). The runtime whose cgroup naming matched is asked first, then every other runtime
whose socket exists here. A container that has gone (or a runtime that does not answer) gives a
``ContainerInfo`` with only the id: fields print ``<NA>`` and the sensor never fails on it.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from yamori.sensor.interface import ContainerInfo
from yamori.sensor.runtimes.interface import RuntimeClient
from yamori.sensor.runtimes.podman import container_info_from_inspect
from yamori.sensor.runtimes.registry import clients as runtime_clients
from yamori.sensor.runtimes.registry import runtime_of_cgroup_prefix

__all__ = [
    "ContainerResolver",
    "container_id_from_cgroup_line",
    "container_id_from_cgroup_name",
    "container_id_of_pid",
    "container_info_from_inspect",
    "runtime_of_cgroup_name",
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


def runtime_of_cgroup_name(name: str) -> str | None:
    """The runtime whose naming a container cgroup follows (``cri-containerd-<id>.scope`` →
    ``containerd``); None for bare ids (``/kubepods/.../<id>``: containerd, CRI-O or docker)."""
    if container_id_from_cgroup_name(name) is None:
        return None
    return runtime_of_cgroup_prefix(name)


class ContainerResolver:
    """Container metadata by id, cached; lookups that fail are cached too (briefly).

    Lookups run in the caller's thread (or a background one, see ``prefetch``): the first event
    of a new container pays one API call or one ``podman inspect`` (tens of milliseconds), every
    later event a dict lookup.

    ``sockets``/``podman`` configure the podman client as before (podman None: find the CLI
    on PATH); ``runtime_sockets`` overrides other runtimes' sockets by name (``docker``,
    ``containerd``, ``cri-o``); ``clients`` replaces the whole list (tests).
    """

    def __init__(
        self,
        sockets: list[str] | None = None,
        podman: str | None = None,
        *,
        clients: list[RuntimeClient] | None = None,
        runtime_sockets: Mapping[str, str] | None = None,
        limit: int = 1024,
        retry_after: float = 5.0,
        timeout: float = 5.0,
    ) -> None:
        if clients is None:
            clients = runtime_clients(
                runtime_sockets,
                podman_sockets=sockets,
                podman=podman if podman is not None else shutil.which("podman"),
                timeout=timeout,
            )
        self.clients = clients
        self.limit = limit
        self.retry_after = retry_after
        self.timeout = timeout
        self.lookups = 0
        self.failures = 0
        self._cache: OrderedDict[str, tuple[float, ContainerInfo, bool]] = OrderedDict()
        self._hints: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[ContainerInfo]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def hint(self, container_id: str, runtime: str | None) -> None:
        """Remember which runtime a container's cgroup named (asked first at lookup)."""
        if runtime is None:
            return
        with self._lock:
            self._hints[container_id] = runtime
            while len(self._hints) > self.limit:
                self._hints.popitem(last=False)

    def prefetch(self, container_id: str, runtime: str | None = None) -> None:
        """Start looking a container up in the background, unless known or already under way.

        Why: ``podman run --rm IMAGE cat /etc/shadow`` lives for milliseconds and the runtime
        forgets the container right after; by the time the rules ask for ``container.name`` the
        inspect would fail. The runner calls this as soon as a record names a new container
        (conmon's exec names it before the container's first process even starts), with the
        runtime its cgroup name points at when it does.
        """
        self.hint(container_id, runtime)
        with self._lock:
            if container_id in self._cache or container_id in self._inflight:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="container-lookup")
            self._inflight[container_id] = self._pool.submit(self._lookup, container_id)

    def get(self, container_id: str) -> ContainerInfo:
        """Metadata for a full or short id; an id-only record when no runtime knows it."""
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

    def _order(self, container_id: str) -> list[RuntimeClient]:
        """The hinted runtime first, then the others in registry order."""
        with self._lock:
            hinted = self._hints.get(container_id)
        first = [c for c in self.clients if c.name == hinted]
        return first + [c for c in self.clients if c.name != hinted]

    def _inspect(self, container_id: str) -> ContainerInfo | None:
        for client in self._order(container_id):
            try:
                if not client.available():
                    continue
                info = client.inspect(container_id)
            except Exception:  # a client bug must not take the sensor down: try the next one
                continue
            if info is not None:
                return info
        return None

    def _lookup(self, container_id: str) -> ContainerInfo:
        now = time.monotonic()
        self.lookups += 1
        found = self._inspect(container_id)
        if found is not None:
            info, ok = found, True
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
        for client in self.clients:
            with contextlib.suppress(Exception):  # closing is best effort
                client.close()
