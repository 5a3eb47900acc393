"""The container runtime seam: one client per runtime, each answering "what is container X?".

A ``RuntimeClient`` knows one runtime's API (podman's libpod REST, Docker Engine, the CRI of
containerd and CRI-O) and turns its answer into a ``ContainerInfo``. The resolver
(``sensor/containers.py``) asks first the runtime whose cgroup naming matched the container,
then every other runtime that is ``available`` here; adding a runtime is one module and one
line in ``registry.py``.
"""

from __future__ import annotations

from typing import Protocol

from yamori.sensor.interface import ContainerInfo

__all__ = ["RuntimeClient"]


class RuntimeClient(Protocol):
    """One container runtime's metadata API."""

    @property
    def name(self) -> str:
        """ "podman", "docker", "containerd", "cri-o": as in ``ContainerInfo.runtime``."""
        ...

    @property
    def socket(self) -> str:
        """The unix socket it talks to ("" when it has none)."""
        ...

    def available(self) -> bool:
        """Whether asking can succeed at all here (the socket exists, or a CLI fallback does)."""
        ...

    def inspect(self, container_id: str) -> ContainerInfo | None:
        """The container's metadata, or None when the runtime does not know it (or is down).

        Never raises for a runtime that is missing or answers garbage: the sensor must not
        fail on metadata.
        """
        ...

    def close(self) -> None:
        """Release connections (idempotent)."""
        ...
