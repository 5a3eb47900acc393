"""The runtime sensor's contracts: capture backend -> raw records -> process table -> events.

Three seams, so each piece can be replaced alone (a libbpf ring-buffer backend instead of
bpftrace, a CRI client instead of podman) and tested without the others:

- ``CaptureBackend`` turns kernel activity into ``RawRecord`` objects (one per syscall exit or
  process lifecycle tracepoint), already decoded from whatever wire format the backend speaks.
- The process table (``proctable.ProcessTable``) folds lifecycle records into ``ProcessInfo``
  entries, so a syscall record of pid 42 can answer ``proc.pname`` or ``proc.aname[3]`` long
  after the parent's exec was seen.
- ``EventContext`` is what a ``SyscallEvent`` asks for the data that is not in the record
  itself: ancestors, container metadata, user and group names. Everything is looked up lazily
  because most rules never read most fields.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "NA",
    "CaptureBackend",
    "CaptureStats",
    "ContainerInfo",
    "ContainerMount",
    "EventContext",
    "FdInfo",
    "HostInfo",
    "ProcessInfo",
    "RawRecord",
    "RecordKind",
    "SocketInfo",
]

NA = "<NA>"
"""Falco's rendering of a value the sensor could not obtain."""


class RecordKind:
    """The kinds of raw records a backend produces (plain strings: cheap to compare)."""

    SYSCALL = "syscall"  # a syscall exit with its entry arguments
    EXEC = "exec"  # sched_process_exec: a successful execve/execveat, new image in place
    FORK = "fork"  # sched_process_fork: a new task (process or thread)
    EXIT = "exit"  # sched_process_exit: a task ended


OPEN_SYSCALLS = frozenset({"open", "openat", "openat2", "creat"})
"""The syscalls that open a file by path (Falco's ``open*`` event types, ``creat`` included)."""


@dataclass(slots=True)
class RawRecord:
    """One decoded observation from the kernel.

    ``ts`` is CLOCK_MONOTONIC nanoseconds (what bpftrace's ``nsecs`` gives); the runner turns it
    into wall-clock time once. ``args`` holds the syscall's entry arguments by Falco's argument
    names (``name``, ``flags``, ``oldpath``...): ints stay ints, paths are ``str`` decoded with
    ``surrogateescape`` so any byte sequence survives. ``truncated`` names the string arguments
    the kernel side cut at its length limit.
    """

    kind: str
    ts: int
    tid: int
    pid: int
    evt_type: str
    res: int = 0
    args: dict[str, int | str] = field(default_factory=dict)
    truncated: frozenset[str] = frozenset()
    # exec records: everything the new image says about the process
    ppid: int = 0
    uid: int = -1
    gid: int = -1
    loginuid: int = -1
    tty: int = 0
    start_ns: int = 0
    comm: str = ""
    exepath: str = ""
    argv: list[str] | None = None
    cgroup: str = ""
    cap_effective: int | None = None  # capability sets after the exec (bit N = capability N)
    cap_permitted: int | None = None
    exe_ino: int | None = None  # the executable's inode number and times (epoch ns)
    exe_ctime_ns: int | None = None
    exe_mtime_ns: int | None = None
    sid: int | None = None  # session id (host pid namespace)
    exe_from_memfd: bool = False  # the executable is a memfd_create() file
    env: list[str] | None = None  # ``NAME=value`` items, read from /proc when a rule wants them
    # fork records: the new task's id; exit records: nothing more
    child_tid: int = 0
    # exec records, set by the drift guard on the reader thread while the process is young:
    # None = not decided there (host process, unknown container), True/False = the verdict
    drift: bool | None = None
    killed: bool = False  # the guard sent SIGKILL (--prevent-drift)
    # socket calls (connect/accept/bind/sendto): the addresses the kernel side read
    sock: SocketInfo | None = None


@dataclass(frozen=True, slots=True)
class SocketInfo:
    """What a socket call's record says about addresses (decoded by ``fdtable.decode_socket``).

    ``family``/``type``/``proto``/``local``/``remote`` come from the kernel socket of the call's
    fd (accept: the new fd) at exit, 0/None when it was not read (the call failed, the fd is not
    a socket); ``addr_family``/``addr``/``path`` from the user's sockaddr (connect's and
    sendto's destination, bind's address, accept's peer). Addresses are (ip text, port).
    """

    family: int = 0
    type: int = 0
    proto: int = 0
    local: tuple[str, int] | None = None
    remote: tuple[str, int] | None = None
    inode: int = 0
    addr_family: int = 0
    addr: tuple[str, int] | None = None
    path: str | None = None  # AF_UNIX path; abstract names start with "@"


@dataclass(slots=True)
class FdInfo:
    """One entry of the fd table (``fdtable.FdTable``), in Falco's terms.

    ``type`` is Falco's fd.type (file, directory, ipv4, ipv6, unix, netlink, pipe, memfd...);
    sockets carry the client and server ends (``role`` says which one this process is:
    ``client`` after connect, ``server`` after accept or for a listening socket, empty while
    unknown), ``l4proto`` tcp/udp/raw/icmp. ``changed_ts`` is the record time of the last
    event that changed the name (Falco's fd.name_changed for that event).
    """

    type: str
    name: str = ""
    l4proto: str | None = None
    cip: str | None = None
    cport: int | None = None
    sip: str | None = None
    sport: int | None = None
    role: str = ""
    connected: bool = False
    listening: bool = False
    inode: int = 0
    changed_ts: int = -1


@dataclass(slots=True)
class ProcessInfo:
    """What the sensor knows about one process (thread group), kept by the process table."""

    pid: int
    ppid: int
    comm: str = ""
    exe: str = ""  # argv[0], as Falco's proc.exe
    exepath: str = ""  # the executable's full path, as Falco's proc.exepath
    args: list[str] = field(default_factory=list)  # argv[1:]
    cwd: str | None = None
    uid: int | None = None
    gid: int | None = None
    loginuid: int | None = None
    tty: int = 0
    start_ns: int = 0  # CLOCK_MONOTONIC ns of the process start
    container_id: str = "host"
    vpid: int | None = None
    exited: bool = False
    from_proc: bool = False  # seeded from /proc at start (vs. built from events)
    exe_upper_layer: bool | None = None  # the executable was not in the image (drift)
    drift_killed: bool = False  # the sensor killed this process for drift
    cap_effective: int | None = None  # as of the last exec (capset/setuid later are not seen)
    cap_permitted: int | None = None
    sid: int | None = None  # session id, host pid namespace
    exe_ino: int | None = None
    exe_ctime_ns: int | None = None  # epoch ns
    exe_mtime_ns: int | None = None
    exe_from_memfd: bool | None = None
    env: list[str] | None = None  # only kept when a loaded rule reads proc.env


@dataclass(frozen=True, slots=True)
class ContainerMount:
    """One mount of a container, as Falco's ``container.mount*`` fields show it."""

    source: str  # host path (or volume name)
    dest: str  # path in the container
    mode: str = ""  # the runtime's mode string (docker ``Mode``: "", "z", "ro"...)
    rdwr: bool = True
    propagation: str = ""  # "private", "rslave", "rshared", "rprivate"...

    def __str__(self) -> str:
        """Falco's ``source:dest:mode:rdwr:propagation``."""
        rdwr = "true" if self.rdwr else "false"
        return f"{self.source}:{self.dest}:{self.mode}:{rdwr}:{self.propagation}"


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """Container metadata from the runtime; ``None`` members print ``<NA>``."""

    id: str
    name: str | None = None
    image: str | None = None  # the reference the container was created from
    image_id: str | None = None
    image_digest: str | None = None  # "sha256:..." of the manifest (a repo digest)
    privileged: bool | None = None
    mounts: tuple[ContainerMount, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    runtime: str | None = None  # "podman", "docker", "containerd", "cri-o"
    start_ns: int | None = None  # wall-clock ns
    healthcheck: str | None = None
    upper_dir: str | None = None  # overlay upper layer on the host: what the container wrote
    # Kubernetes, from the CRI (pod sandbox status) or the io.kubernetes.* container labels
    k8s_ns: str | None = None
    k8s_pod_name: str | None = None
    k8s_pod_uid: str | None = None
    k8s_pod_labels: dict[str, str] = field(default_factory=dict)
    k8s_sandbox_id: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HostInfo:
    """Where the sensor runs: host name and, when enabled, the cloud instance it is."""

    hostname: str
    cloud_provider: str | None = None  # "aws"
    account_id: str | None = None
    region: str | None = None
    availability_zone: str | None = None
    instance_id: str | None = None
    instance_type: str | None = None
    image_id: str | None = None  # the AMI


class EventContext(Protocol):
    """The lookups a syscall event needs beyond its own record (implemented by the runner)."""

    def process(self, pid: int) -> ProcessInfo | None: ...

    def container(self, container_id: str) -> ContainerInfo | None: ...

    def user_name(self, proc: ProcessInfo, uid: int) -> str | None: ...

    def group_name(self, proc: ProcessInfo, gid: int) -> str | None: ...

    def cwd(self, proc: ProcessInfo) -> str | None: ...

    def wall_ns(self, monotonic_ns: int) -> int: ...

    def monotonic_now(self) -> int: ...

    def fd(self, pid: int, fd: int) -> FdInfo | None: ...


@dataclass(slots=True)
class CaptureStats:
    """Counters a backend keeps; the runner reports them at the end and on request."""

    lines: int = 0  # output lines read from the capture process
    records: int = 0  # complete records produced
    malformed: int = 0  # lines that could not be decoded (counted, skipped)
    incomplete: int = 0  # multi-line records whose parts never all arrived
    lost: int = 0  # events the kernel side reported lost (perf buffer full)
    kernel_filtered: int = 0  # opens no rule can match, dropped in the kernel (prefilter)
    kernel_coalesced: int = 0  # container opens repeating one sent < 1 s before, not sent


class CaptureBackend(ABC):
    """A source of ``RawRecord`` objects for a set of syscalls."""

    stats: CaptureStats

    @abstractmethod
    def start(self) -> None:
        """Attach to the kernel; returns once capture is live (events after this are seen)."""

    @abstractmethod
    def records(self) -> Iterator[RawRecord]:
        """Decoded records, in arrival order, until ``stop`` or the backend dies."""

    @abstractmethod
    def stop(self) -> None:
        """Detach and release the kernel side; safe to call twice."""
