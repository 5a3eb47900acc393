"""Which runtimes the sensor asks, and which runtime a cgroup name points at.

``clients()`` builds one client per supported runtime with its socket (defaults, the
``YAMORI_*_SOCKET`` variables, or ``--runtime-socket NAME=PATH``); the resolver skips the ones
whose socket does not exist, at each lookup, so a daemon started after the sensor is found.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping

from yamori.sensor.runtimes.cri import CriClient, default_containerd_socket, default_crio_socket
from yamori.sensor.runtimes.docker import DockerClient
from yamori.sensor.runtimes.interface import RuntimeClient
from yamori.sensor.runtimes.podman import PodmanClient

__all__ = ["RUNTIMES", "clients", "runtime_of_cgroup_prefix"]

RUNTIMES = ("podman", "docker", "containerd", "cri-o")

# the cgroup leaf-name prefix each runtime uses (see containers.py); bare ids are ambiguous
_CGROUP_PREFIXES = {
    "libpod-": "podman",
    "docker-": "docker",
    "cri-containerd-": "containerd",
    "crio-": "cri-o",
}


def runtime_of_cgroup_prefix(name: str) -> str | None:
    """The runtime a cgroup leaf name (``cri-containerd-<id>.scope``) belongs to, or None."""
    for prefix, runtime in _CGROUP_PREFIXES.items():
        if name.startswith(prefix):
            return runtime
    return None


def clients(
    sockets: Mapping[str, str] | None = None,
    *,
    podman_sockets: list[str] | None = None,
    podman: str | bool | None = True,
    timeout: float = 5.0,
) -> list[RuntimeClient]:
    """One client per runtime. ``sockets`` overrides a runtime's socket by name; ``podman``
    is the CLI fallback's path (True: find it on PATH, None/False: no CLI fallback)."""
    sockets = dict(sockets or {})
    unknown = set(sockets) - set(RUNTIMES)
    if unknown:
        raise ValueError(f"unknown runtime {', '.join(sorted(unknown))} (known: {', '.join(RUNTIMES)})")
    cli = shutil.which("podman") if podman is True else (podman or None)
    if "podman" in sockets:
        podman_sockets = [sockets["podman"]]
    return [
        PodmanClient(podman_sockets, cli if isinstance(cli, str) else None, timeout=timeout),
        DockerClient(sockets.get("docker"), timeout=timeout),
        CriClient("containerd", sockets.get("containerd") or default_containerd_socket(), timeout=timeout),
        CriClient("cri-o", sockets.get("cri-o") or default_crio_socket(), timeout=timeout),
    ]
