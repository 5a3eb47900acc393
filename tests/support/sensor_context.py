"""A stand-in ``EventContext`` for field tests: one process, its container, and callables for fds
and DNS names — what the sensor's ``SensorContext`` answers from its live tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from yamori.sensor.interface import ContainerInfo, FdInfo, HostInfo, ProcessInfo


@dataclass
class FakeContext:
    proc: ProcessInfo
    info: ContainerInfo | None = None
    fds: Callable[[int, int], FdInfo | None] | None = None
    names: Callable[[str], frozenset[str] | None] | None = None
    host: HostInfo | None = None
    user: str | None = "root"

    def process(self, pid: int) -> ProcessInfo | None:
        return self.proc if pid == self.proc.pid else None

    def container(self, container_id: str) -> ContainerInfo | None:
        return self.info

    def user_name(self, proc: ProcessInfo, uid: int) -> str | None:
        return self.user

    def group_name(self, proc: ProcessInfo, gid: int) -> str | None:
        return self.user

    def cwd(self, proc: ProcessInfo) -> str | None:
        return "/"

    def wall_ns(self, monotonic_ns: int) -> int:
        return monotonic_ns

    def monotonic_now(self) -> int:
        return 0

    def fd(self, pid: int, fd: int) -> FdInfo | None:
        return self.fds(pid, fd) if self.fds is not None else None

    def ip_names(self, ip: str) -> frozenset[str] | None:
        return self.names(ip) if self.names is not None else None
