"""Container runtime clients (podman, Docker, containerd and CRI-O via the CRI): see
``interface.py`` for the seam and ``registry.py`` for which are asked."""

from yamori.sensor.runtimes.interface import RuntimeClient
from yamori.sensor.runtimes.registry import RUNTIMES, clients, runtime_of_cgroup_prefix

__all__ = ["RUNTIMES", "RuntimeClient", "clients", "runtime_of_cgroup_prefix"]
