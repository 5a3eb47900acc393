"""`syscall` fields: Falco's libsinsp field classes (`evt.*`, `proc.*`, `thread.*`, `user.*`,
`group.*`, `fd.*`, `container.*`, `k8s.*`, `fs.*`) over the runtime sensor's events.

The table defines every field Falco's stable and incubating syscall rules name, with Falco's
types and argument kinds, so those rules compile unchanged. The sensor fills what its capture
gives (see ``UNFILLED`` for the rest: those return None and print ``<NA>``, and a condition on
them is false, as in Falco when a value is missing). Values are computed on demand from the raw
record, the process table entry and the container cache; nothing is pre-extracted.

Value conventions follow Falco: ``evt.res`` is ``SUCCESS`` or the errno name, ``evt.rawres`` the
number; ``proc.cmdline`` is ``proc.name`` plus the arguments; ``proc.aname[0]`` is the process
itself, ``[1]`` its parent; ``container.id`` is ``host`` outside containers and the 12-digit
short id inside; ``user.loginuid`` is -1 when unset; open flags render as ``O_RDONLY|O_CLOEXEC``.
"""

from __future__ import annotations

import errno
import posixpath
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from yamori.detect.fields.interface import Either, Event, FieldClass, FieldInfo, FieldType, OneOf
from yamori.sensor.interface import OPEN_SYSCALLS

if TYPE_CHECKING:
    from yamori.sensor.interface import (
        ContainerInfo,
        ContainerMount,
        EventContext,
        FdInfo,
        HostInfo,
        ProcessInfo,
        RawRecord,
    )

__all__ = ["UNFILLED", "SyscallEvent", "SyscallFields", "caps_text"]

S, INT, U, B, L, IP = (
    FieldType.STRING,
    FieldType.INT,
    FieldType.UINT,
    FieldType.BOOL,
    FieldType.STRINGS,
    FieldType.IPADDR,
)

# Falco argument names that the rules read as evt.arg.NAME (and evt.rawarg.NAME).
ARG_NAMES = (
    "fd", "dirfd", "name", "flags", "mode", "path", "filename", "target", "linkpath", "oldpath",
    "newpath", "olddir", "newdir", "olddirfd", "newdirfd", "linkdirfd", "request", "pid", "uid",
    "gid", "domain", "type", "proto", "cmd", "res", "res_or_fd", "data", "addr", "tuple", "dev",
    "dir", "oldfd", "newfd", "nstype", "sig", "option", "backlog", "size", "exe", "args",
)  # fmt: skip


def _table() -> list[FieldInfo]:
    f = FieldInfo
    out = [
        f("evt.type", S, "Event type (the syscall name)"),
        f("evt.dir", S, "Direction: > enter, < exit (the sensor produces exit events)"),
        f("evt.num", U, "Event number (sequence in this sensor run)"),
        f("evt.rawtime", U, "Event time, ns since the epoch"),
        f("evt.datetime", S, "Event date and time"),
        f("evt.time.s", S, "Event time, seconds"),
        f("evt.res", S, "SUCCESS or the errno name"),
        f("evt.rawres", INT, "Return value as a number"),
        f("evt.failed", B, "True when the call failed"),
        f("evt.args", S, "All arguments as name=value text"),
        f("evt.arg", S, "One argument by name or index", "key"),
        f("evt.rawarg", S, "One argument, raw", "key"),
        f("evt.is_open_read", B, "An open for reading"),
        f("evt.is_open_write", B, "An open for writing"),
        f("evt.is_open_exec", B, "An open creating an executable file"),
        f("evt.is_open_create", B, "An open with O_CREAT"),
        f("evt.cpu", INT, "CPU number"),
        f("evt.hostname", S, "Host name"),
        f("evt.category", S, "Event category"),
        f("evt.buffer", FieldType.BYTES, "I/O buffer"),
        f("evt.buflen", U, "I/O buffer length"),
        f("evt.latency", U, "Syscall latency, ns"),
        f("evt.deltatime", U, "Time since the previous event, ns"),
        f("evt.count", INT, "1 for every event"),
        f("evt.plugininfo", S, "Plugin event info"),
        f("evt.pluginname", S, "Plugin name"),
        f("syscall.type", S, "Syscall name"),
        f("proc.name", S, "Process name (comm)"),
        f("proc.exe", S, "First command-line argument (argv[0])"),
        f("proc.exepath", S, "Full path of the executable"),
        f("proc.pexepath", S, "Parent's executable path"),
        f("proc.aexepath", S, "Ancestor's executable path", "optional-index", any_element=True),
        f("proc.cmdline", S, "Name and arguments"),
        f("proc.pcmdline", S, "Parent's name and arguments"),
        f("proc.acmdline", S, "Ancestor's name and arguments", "optional-index", any_element=True),
        f("proc.cmdnargs", U, "Number of arguments"),
        f("proc.cmdlenargs", U, "Length of the arguments"),
        f("proc.args", S, "Arguments, space separated"),
        f("proc.env", S, "Environment (or one variable)", "optional-key"),
        f("proc.aenv", S, "Ancestor's environment", "optional-key"),
        f("proc.pid", INT, "Process id"),
        f("proc.ppid", INT, "Parent process id"),
        f("proc.apid", INT, "Ancestor's process id", "optional-index", any_element=True),
        f("proc.vpid", INT, "Process id in its pid namespace"),
        f("proc.pvpid", INT, "Parent's id in its pid namespace"),
        f("proc.pname", S, "Parent's name"),
        f("proc.aname", S, "Ancestor's name ([0] self; no index: any)", "optional-index", any_element=True),
        f("proc.pexe", S, "Parent's argv[0]"),
        f("proc.aexe", S, "Ancestor's argv[0]", "optional-index", any_element=True),
        f("proc.cwd", S, "Working directory"),
        f("proc.tty", INT, "Controlling terminal (device number, 0 for none)"),
        f("proc.duration", INT, "ns since the process started"),
        f("proc.ppid.duration", INT, "ns since the parent started"),
        f("proc.pid.ts", INT, "Process start time"),
        f("proc.ppid.ts", INT, "Parent start time"),
        f("proc.sid", INT, "Session id"),
        f("proc.sname", S, "Session leader's name"),
        f("proc.sid.exe", S, "Session leader's argv[0]"),
        f("proc.sid.exepath", S, "Session leader's executable path"),
        f("proc.vpgid", INT, "Process group id"),
        f("proc.vpgid.name", S, "Process group leader's name"),
        f("proc.vpgid.exe", S, "Process group leader's argv[0]"),
        f("proc.vpgid.exepath", S, "Process group leader's executable path"),
        f("proc.is_vpgid_leader", B, "Process group leader"),
        f("proc.is_sid_leader", B, "Session leader"),
        f("proc.is_exe_writable", B, "Executable writable by the process's user"),
        f("proc.is_exe_upper_layer", B, "Executable in an overlayfs upper layer"),
        f("yamori.drift.action", S, "What the sensor did about a drifted process: killed or alerted"),
        f("proc.is_exe_from_memfd", B, "Executable is a memfd"),
        f("proc.exe_ino", INT, "Executable inode"),
        f("proc.exe_ino.ctime", INT, "Executable ctime"),
        f("proc.exe_ino.mtime", INT, "Executable mtime"),
        f("proc.exe_ino.ctime_duration_proc_start", INT, "ns between exe ctime and process start"),
        f("proc.exe_ino.ctime_duration_pidns_start", INT, "ns between exe ctime and pid ns start"),
        f("proc.pidns_init_start_ts", INT, "Start of the pid namespace's init"),
        f("proc.is_container_healthcheck", B, "Runs the container's health check"),
        f("proc.is_container_liveness_probe", B, "Runs the container's liveness probe"),
        f("proc.is_container_readiness_probe", B, "Runs the container's readiness probe"),
        f("proc.nthreads", U, "Threads in the process"),
        f("proc.nchilds", U, "Child threads"),
        f("proc.loginshellid", INT, "Outermost shell's pid"),
        f("proc.stdin.name", S, "stdin's name"),
        f("proc.stdout.name", S, "stdout's name"),
        f("proc.stderr.name", S, "stderr's name"),
        f("proc.fdopencount", U, "Open fds"),
        f("thread.tid", INT, "Thread id"),
        f("thread.vtid", INT, "Thread id in its pid namespace"),
        f("thread.cap_effective", S, "Effective capabilities"),
        f("thread.cap_permitted", S, "Permitted capabilities"),
        f("thread.cap_inheritable", S, "Inheritable capabilities"),
        f("thread.ismain", B, "The main thread"),
        f("user.uid", U, "Effective user id"),
        f("user.name", S, "User name"),
        f("user.homedir", S, "Home directory"),
        f("user.shell", S, "Login shell"),
        f("user.loginuid", INT, "Audit login uid (-1 when unset)"),
        f("user.loginname", S, "Name of the login uid"),
        f("group.gid", U, "Effective group id"),
        f("group.name", S, "Group name"),
        f("fd.num", INT, "File descriptor number"),
        f("fd.type", S, "fd type: file, directory, ipv4, ipv6, unix..."),
        f("fd.typechar", S, "fd type as one character (f, d, 4, 6, u...)"),
        f("fd.name", S, "Full path (files) or connection tuple"),
        f("fd.nameraw", S, "The name as passed to the syscall"),
        f("fd.directory", S, "Directory of the file"),
        f("fd.filename", S, "Base name of the file"),
        f("fd.name_changed", B, "The name changed during the syscall"),
        f("fd.dev", U, "Device number"),
        f("fd.ino", INT, "Inode"),
        f("fd.cip", IP, "Client IP"),
        f("fd.sip", IP, "Server IP"),
        f("fd.lip", IP, "Local IP"),
        f("fd.rip", IP, "Remote IP"),
        f("fd.ip", IP, "Either IP"),
        f("fd.cport", U, "Client port"),
        f("fd.sport", U, "Server port"),
        f("fd.lport", U, "Local port"),
        f("fd.rport", U, "Remote port"),
        f("fd.port", U, "Either port"),
        # every name the IP has (sensor/dnsnames.py), any of which may match; printed as one
        f("fd.cip.name", S, "Client domain name", any_element=True),
        f("fd.sip.name", S, "Server domain name", any_element=True),
        f("fd.lip.name", S, "Local domain name", any_element=True),
        f("fd.rip.name", S, "Remote domain name", any_element=True),
        # IPNET: the value is an address, compared for membership (`fd.net != "127.0.0.0/8"`)
        f("fd.net", FieldType.IPNET, "Either network"),
        f("fd.cnet", FieldType.IPNET, "Client network"),
        f("fd.snet", FieldType.IPNET, "Server network"),
        f("fd.lnet", FieldType.IPNET, "Local network"),
        f("fd.rnet", FieldType.IPNET, "Remote network"),
        f("fd.l4proto", S, "tcp, udp, icmp, raw"),
        f("fd.sockfamily", S, "ip or unix"),
        f("fd.is_server", B, "The process is the server side"),
        f("fd.connected", B, "The socket is connected"),
        f("fd.uid", S, "fd unique id"),
        f("fs.path.name", S, "Path of a filesystem syscall"),
        f("fs.path.nameraw", S, "Path of a filesystem syscall, raw"),
        f("fs.path.source", S, "Source path (rename, link)"),
        f("fs.path.sourceraw", S, "Source path, raw"),
        f("fs.path.target", S, "Target path (rename, link)"),
        f("fs.path.targetraw", S, "Target path, raw"),
        f("container.id", S, "Short container id, or host"),
        f("container.full_id", S, "Full container id, or host"),
        f("container.name", S, "Container name"),
        f("container.image", S, "Image reference"),
        f("container.image.id", S, "Image id"),
        f("container.image.repository", S, "Image repository"),
        f("container.image.tag", S, "Image tag"),
        f("container.image.digest", S, "Image digest"),
        f("container.type", S, "Runtime: podman, docker, containerd, cri-o"),
        f("container.privileged", B, "Privileged container"),
        f("container.mounts", S, "Mounts, comma separated"),
        f("container.mount", S, "One mount by index or destination", "key"),
        f("container.mount.source", S, "Mount source by index or destination", "key"),
        f("container.mount.dest", S, "Mount destination by index or source", "key"),
        f("container.mount.mode", S, "Mount mode", "key"),
        f("container.mount.rdwr", S, "Mount read-write", "key"),
        f("container.mount.propagation", S, "Mount propagation", "key"),
        f("container.start_ts", INT, "Container start, ns since the epoch"),
        f("container.duration", INT, "ns since the container started"),
        f("container.healthcheck", S, "Health check command"),
        f("container.liveness_probe", S, "Liveness probe command"),
        f("container.readiness_probe", S, "Readiness probe command"),
        f("container.ip", S, "Container IP"),
        f("container.cni.json", S, "CNI result"),
        f("container.host_pid", B, "Shares the host pid namespace"),
        f("container.host_network", B, "Shares the host network namespace"),
        f("container.host_ipc", B, "Shares the host IPC namespace"),
        f("container.label", S, "One container label", "key"),
        f("container.labels", S, "Container labels"),
        f("k8s.ns.name", S, "Pod namespace (CRI label)"),
        f("k8s.pod.name", S, "Pod name (CRI label)"),
        f("k8s.pod.id", S, "Pod uid (CRI label)"),
        f("k8s.pod.uid", S, "Pod uid (CRI label)"),
        f("k8s.pod.sandbox_id", S, "Pod sandbox id"),
        f("k8s.pod.full_sandbox_id", S, "Pod sandbox id, full"),
        f("k8s.pod.label", S, "One pod label", "key"),
        f("k8s.pod.labels", S, "Pod labels"),
        f("k8s.pod.ip", S, "Pod IP"),
        f("k8s.pod.cni.json", S, "Pod CNI result"),
        f("k8s.container.name", S, "Container name in the pod spec"),
        f("k8s.ns.label", S, "One namespace label", "key"),
        f("k8s.deployment.name", S, "Deployment name"),
        f("cloud.provider", S, "Cloud of the sensor's host (aws), with --aws-metadata"),
        f("cloud.account.id", S, "Cloud account of the sensor's host (EC2 instance identity)"),
        f("cloud.region", S, "Cloud region of the sensor's host"),
        f("cloud.availability_zone", S, "Availability zone of the sensor's host"),
        f("cloud.instance.id", S, "Instance id of the sensor's host"),
        f("cloud.instance.type", S, "Instance type of the sensor's host"),
        f("cloud.image.id", S, "Machine image (AMI) of the sensor's host"),
    ]
    out += [f(f"evt.arg.{n}", S, f"Argument '{n}'") for n in ARG_NAMES]
    out += [f(f"evt.rawarg.{n}", S, f"Argument '{n}', raw") for n in ARG_NAMES]
    return out


_FIELDS = {info.name: info for info in _table()}


class SyscallFields(FieldClass):
    """Fields of the ``syscall`` source (the runtime sensor)."""

    source: ClassVar[str] = "syscall"
    index_fields: ClassVar[tuple[str, ...]] = ("evt.type",)

    def fields(self) -> dict[str, FieldInfo]:
        return _FIELDS


# --------------------------------------------------------------------------- renderings

_O_FLAGS = (
    (0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"), (0o10000, "O_DSYNC"), (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"), (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"), (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH"),
    (0o20000000, "O_TMPFILE"),
)  # fmt: skip
_O_DIRECTORY, _O_CREAT, _O_TMPFILE_BIT = 0o200000, 0o100, 0o20000000
_MODE_BITS = (
    (0o4000, "S_ISUID"), (0o2000, "S_ISGID"), (0o1000, "S_ISVTX"),
    (0o400, "S_IRUSR"), (0o200, "S_IWUSR"), (0o100, "S_IXUSR"),
    (0o40, "S_IRGRP"), (0o20, "S_IWGRP"), (0o10, "S_IXGRP"),
    (0o4, "S_IROTH"), (0o2, "S_IWOTH"), (0o1, "S_IXOTH"),
)  # fmt: skip
_PTRACE = {
    0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA", 3: "PTRACE_PEEKUSR",
    4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA", 6: "PTRACE_POKEUSR", 7: "PTRACE_CONT",
    8: "PTRACE_KILL", 9: "PTRACE_SINGLESTEP", 12: "PTRACE_GETREGS", 13: "PTRACE_SETREGS",
    16: "PTRACE_ATTACH", 17: "PTRACE_DETACH", 0x4206: "PTRACE_SEIZE", 0x4207: "PTRACE_INTERRUPT",
}  # fmt: skip
_DOMAINS = {1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET"}
_SIGNED32 = frozenset({"fd", "dirfd", "olddir", "newdir", "olddirfd", "newdirfd", "linkdirfd", "pid"})
AT_FDCWD = -100


def open_flags_text(flags: int) -> str:
    """Falco's rendering of open flags (access mode first)."""
    acc = flags & 3
    names = ["O_RDONLY" if acc == 0 else "O_WRONLY" if acc == 1 else "O_RDWR"]
    names += [n for bit, n in _O_FLAGS if flags & bit and not (n == "O_DIRECTORY" and flags & _O_TMPFILE_BIT)]
    return "|".join(names)


def _mode_text(mode: int) -> str:
    names = [n for bit, n in _MODE_BITS if mode & bit]
    return "|".join(names) if names else "0"


def _signed32(value: int) -> int:
    return value - (1 << 32) if (1 << 31) <= value < (1 << 32) else value


def _errno_name(res: int) -> str:
    return "SUCCESS" if res >= 0 else errno.errorcode.get(-res, str(res))


def _repository(image: str) -> str:
    """``registry/name`` without ``:tag`` / ``@digest`` (a registry port is not a tag)."""
    ref = image.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def _tag(image: str) -> str | None:
    ref = image.split("@", 1)[0]
    colon = ref.rfind(":")
    return ref[colon + 1 :] if colon > ref.rfind("/") else None


# --------------------------------------------------------------------------- the event


class SyscallEvent(Event):
    """One sensor event: a raw record plus the process it belongs to and the lookups context."""

    source: ClassVar[str] = "syscall"
    __slots__ = ("ctx", "num", "proc", "rec")

    def __init__(self, rec: RawRecord, proc: ProcessInfo | None, ctx: EventContext, num: int = 1) -> None:
        # evt.num counts from 1: the rules' never_true macro is `evt.num=0`
        self.rec = rec
        self.proc = proc
        self.ctx = ctx
        self.num = num
        self.memo = {}

    def time_ns(self) -> int:
        return self.ctx.wall_ns(self.rec.ts)

    def value(self, name: str, arg: str | None = None) -> Any:
        fn = _EXTRACTORS.get(name)
        if fn is None:
            if name in _FIELDS:
                return None  # defined (rules compile) but not filled by this sensor
            raise KeyError(name)
        return fn(self, arg)

    # -- helpers used by the extractors

    def ancestor(self, n: int) -> ProcessInfo | None:
        cur = self.proc
        for _ in range(n):
            if cur is None or cur.ppid <= 0 or cur.ppid == cur.pid:
                return None
            cur = self.ctx.process(cur.ppid)
        return cur

    def ancestors(self) -> list[ProcessInfo]:
        out: list[ProcessInfo] = []
        cur = self.proc
        seen: set[int] = set()
        while cur is not None and cur.ppid > 0 and cur.ppid not in seen and len(out) < 64:
            seen.add(cur.pid)
            cur = self.ctx.process(cur.ppid)
            if cur is not None:
                out.append(cur)
        return out

    def container(self) -> ContainerInfo | None:
        proc = self.proc
        if proc is None or proc.container_id == "host":
            return None
        return self.ctx.container(proc.container_id)

    def is_open(self) -> bool:
        return self.rec.evt_type in OPEN_SYSCALLS

    def open_path(self) -> str | None:
        """The opened path, absolute: relative paths joined to the dirfd's (cwd) directory."""
        raw = self.rec.args.get("name")
        if not isinstance(raw, str):
            return None
        if raw.startswith("/"):
            return posixpath.normpath(raw) if ("/." in raw or "//" in raw) else raw
        dirfd = _signed32(int(self.rec.args.get("dirfd", AT_FDCWD)))
        if dirfd != AT_FDCWD or self.proc is None:
            return raw  # relative to a directory fd the sensor does not track
        cwd = self.ctx.cwd(self.proc)
        return posixpath.normpath(posixpath.join(cwd, raw)) if cwd else raw

    def flags(self) -> int | None:
        value = self.rec.args.get("flags")
        if isinstance(value, int):
            return value
        if self.rec.evt_type == "creat":
            return 0o1101  # O_CREAT|O_WRONLY|O_TRUNC
        return None

    def arg_text(self, name: str) -> str | None:
        rec = self.rec
        if name in ("res", "fd") and name not in rec.args and rec.kind == "syscall":
            return str(rec.res) if name == "res" or rec.evt_type in OPEN_SYSCALLS else None
        if name == "res_or_fd":
            return str(rec.res)
        if rec.kind == "exec":
            if name == "exe":
                return self.proc.exe if self.proc else None
            if name == "args":
                return " ".join(self.proc.args) if self.proc else None
            return None
        value = rec.args.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if name in _SIGNED32:
            value = _signed32(value)
        if name == "flags" and rec.evt_type in OPEN_SYSCALLS:
            return open_flags_text(value)
        if name == "mode" and rec.evt_type in ("chmod", "fchmod", "fchmodat", "open", "openat", "creat"):
            return _mode_text(value)
        if name == "request" and rec.evt_type == "ptrace":
            return _PTRACE.get(value, str(value))
        if name == "domain":
            return _DOMAINS.get(value, str(value))
        if name in ("uid", "gid") and self.proc is not None:
            resolve = self.ctx.user_name if name == "uid" else self.ctx.group_name
            return resolve(self.proc, value) or str(value)
        if name in ("dirfd", "olddirfd", "newdirfd", "linkdirfd", "olddir", "newdir") and value == AT_FDCWD:
            return f"{value}(AT_FDCWD)"
        return str(value)


_Extractor = Callable[[SyscallEvent, str | None], Any]


def _index(arg: str | None, default: int) -> int:
    try:
        return int(arg) if arg not in (None, "") else default
    except ValueError:
        return -1


def _cmdline(p: ProcessInfo | None) -> str | None:
    if p is None:
        return None
    return " ".join([p.comm, *p.args]) if p.args else p.comm


def _proc_attr(attr: str) -> Callable[[ProcessInfo | None], Any]:
    def get(p: ProcessInfo | None) -> Any:
        return getattr(p, attr) if p is not None else None

    return get


def _by_ancestor(get: Callable[[ProcessInfo | None], Any]) -> _Extractor:
    """``proc.aX[N]``: the value of the N-th ancestor ([0] the process itself). Without an
    index: every ancestor's value (parent first, the process itself excluded), a list of which
    ANY may match (the field is ``any_element``), as libsinsp's compare_full_aname does."""

    def extract(e: SyscallEvent, arg: str | None) -> Any:
        if arg in (None, ""):
            values = [v for a in e.ancestors() if (v := get(a)) is not None]
            return values or None
        n = _index(arg, 1)
        return get(e.ancestor(n)) if n >= 0 else None

    return extract


_aname = _by_ancestor(lambda p: p.comm if p is not None else None)

_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip


def caps_text(caps: int | None) -> str | None:
    """A capability set as Falco renders it: names in bit order, space separated ("" if none)."""
    if caps is None:
        return None
    return " ".join(name for bit, name in enumerate(_CAPS) if caps >> bit & 1)


def _session_leader(e: SyscallEvent) -> ProcessInfo | None:
    """The process whose pid is the session id, else the eldest ancestor in the same session
    (the leader has exited), else the process itself: libsinsp's proc.sname rule."""
    proc = e.proc
    if proc is None or proc.sid is None or proc.sid <= 0:
        return None
    leader = e.ctx.process(proc.sid)
    if leader is not None and not leader.exited and (leader.sid is None or leader.sid == proc.sid):
        return leader
    leader = proc
    for a in e.ancestors():
        if a.sid != proc.sid:
            break
        leader = a
    return leader


def _env(e: SyscallEvent, arg: str | None) -> str | None:
    """``proc.env``: ``NAME=value`` items joined by spaces; ``proc.env[NAME]``: one value."""
    env = e.proc.env if e.proc is not None else None
    if env is None:
        return None
    if arg in (None, ""):
        return " ".join(env)
    prefix = f"{arg}="
    for item in env:
        if item.startswith(prefix):
            return item[len(prefix) :]
    return ""


def _ctime_since_start(e: SyscallEvent, _a: str | None) -> int | None:
    """ns from the executable's last status change to the process start (None if not after)."""
    p = e.proc
    if p is None or not p.exe_ctime_ns or not p.start_ns:
        return None
    delta = e.ctx.wall_ns(p.start_ns) - p.exe_ctime_ns
    return delta if delta > 0 else None


def _fd_num(e: SyscallEvent, _a: str | None) -> int | None:
    rec = e.rec
    if rec.evt_type in OPEN_SYSCALLS or rec.evt_type in _CREATES_FD:
        return rec.res if rec.res >= 0 else -1
    fd = rec.args.get("oldfd" if rec.evt_type in ("dup2", "dup3") else "fd")
    return _signed32(fd) if isinstance(fd, int) else None


_CREATES_FD = frozenset({"socket", "accept", "accept4", "memfd_create"})
_FD_KEY = ("fd.*", None)  # memo slot of the event's fd table entry
_FD_TYPECHARS = {
    "file": "f", "directory": "d", "ipv4": "4", "ipv6": "6", "unix": "u", "pipe": "p",
    "event": "e", "signalfd": "s", "eventpoll": "l", "inotify": "i", "timerfd": "t",
    "netlink": "n", "bpf": "b", "userfaultfd": "u", "io_uring": "r", "memfd": "m", "pidfd": "P",
}  # fmt: skip


def _fd_info(e: SyscallEvent) -> FdInfo | None:
    """The fd table's entry for the event's fd (the sensor's runner keeps the table; a context
    without one answers nothing). Opens answer from their own record instead."""
    memo = e.memo
    if _FD_KEY in memo:
        info: FdInfo | None = memo[_FD_KEY]
        return info
    info = None
    lookup = getattr(e.ctx, "fd", None)
    num = _fd_num(e, None)
    if lookup is not None and num is not None and num >= 0 and e.rec.kind == "syscall":
        info = lookup(e.rec.pid, num)
    memo[_FD_KEY] = info
    return info


def _fd_name(e: SyscallEvent, _a: str | None) -> str | None:
    if e.is_open():
        return e.open_path()
    if e.rec.evt_type == "memfd_create":
        name = e.rec.args.get("name")
        return f"memfd:{name}" if isinstance(name, str) else None
    info = _fd_info(e)
    return info.name if info is not None and info.type != "unknown" else None


def _fd_typechar(e: SyscallEvent, _a: str | None) -> str | None:
    if not e.is_open():
        if e.rec.evt_type == "memfd_create":
            return "m"
        info = _fd_info(e)
        return _FD_TYPECHARS.get(info.type, "o") if info is not None else None
    flags = e.flags() or 0
    return "d" if flags & _O_DIRECTORY and not flags & _O_TMPFILE_BIT else "f"


def _fd_type(e: SyscallEvent, a: str | None) -> str | None:
    if not e.is_open() and e.rec.evt_type != "memfd_create":
        info = _fd_info(e)
        return info.type if info is not None and info.type != "unknown" else None
    char = _fd_typechar(e, a)
    return {"f": "file", "d": "directory", "m": "memfd"}.get(char or "")


def _file_name(e: SyscallEvent) -> tuple[str, bool] | None:
    """(path, is a directory) of the event's fd when it is a file."""
    if e.is_open():
        name = _fd_name(e, None)
        return (name, _fd_typechar(e, None) == "d") if name is not None else None
    info = _fd_info(e)
    if info is None or info.type not in ("file", "directory") or not info.name:
        return None
    return info.name, info.type == "directory"


def _fd_directory(e: SyscallEvent, _a: str | None) -> str | None:
    found = _file_name(e)
    if found is None:
        return None
    name, is_dir = found
    return name if is_dir else (posixpath.dirname(name) or None)


def _fd_filename(e: SyscallEvent, _a: str | None) -> str | None:
    found = _file_name(e)
    if found is None or found[1]:
        return None
    return posixpath.basename(found[0])


def _sock(e: SyscallEvent) -> FdInfo | None:
    """The event's fd when it is an IP socket."""
    info = _fd_info(e)
    return info if info is not None and info.type in ("ipv4", "ipv6") else None


def _ends(info: FdInfo) -> tuple[tuple[str | None, int | None], tuple[str | None, int | None]]:
    """(local, remote) ends: the server end is local when this process is the server."""
    client, server = (info.cip, info.cport), (info.sip, info.sport)
    return (server, client) if info.role == "server" else (client, server)


def _sock_field(get: Callable[[FdInfo], Any]) -> _Extractor:
    def extract(e: SyscallEvent, _a: str | None) -> Any:
        info = _sock(e)
        return get(info) if info is not None else None

    return extract


def _ip_names(get: Callable[[FdInfo], str | None]) -> _Extractor:
    """``fd.*ip.name``: the names the context's DNS map gives the address (``ip_names``, see
    sensor/dnsnames.py: forward-resolved rule names, as Falco's DNS manager does), sorted. All
    of them are candidates (the field is ``any_element``: ``=``/``in`` hold when one matches);
    an output prints the first. None (``<NA>``, no match) when the address has no name."""

    def extract(e: SyscallEvent, _a: str | None) -> OneOf | None:
        lookup = getattr(e.ctx, "ip_names", None)
        info = _sock(e) if lookup is not None else None
        ip = get(info) if info is not None else None
        names = lookup(ip) if lookup is not None and ip is not None else None
        return OneOf(sorted(names)) if names else None

    return extract


def _either(*values: Any) -> Either | None:
    present = [v for v in values if v is not None]
    return Either(present) if present else None


def _fd_sockfamily(e: SyscallEvent, _a: str | None) -> str | None:
    info = _fd_info(e)
    if info is None:
        return None
    return "ip" if info.type in ("ipv4", "ipv6") else "unix" if info.type == "unix" else None


def _fd_name_changed(e: SyscallEvent, _a: str | None) -> bool | None:
    if e.is_open():
        return False
    info = _fd_info(e)
    return None if info is None else info.changed_ts == e.rec.ts


def _fd_socket_flag(attr: str) -> _Extractor:
    def extract(e: SyscallEvent, _a: str | None) -> bool | None:
        info = _fd_info(e)
        if info is None:
            return None
        if info.type not in ("ipv4", "ipv6", "unix"):
            return False
        return info.role == "server" if attr == "is_server" else info.connected

    return extract


def _is_open(mode: str) -> _Extractor:
    def extract(e: SyscallEvent, _a: str | None) -> bool | None:
        if not e.is_open():
            return False
        flags = e.flags()
        if flags is None:
            return None
        acc = flags & 3
        if mode == "read":
            return acc in (0, 2)
        if mode == "write":
            return acc in (1, 2)
        if mode == "create":
            return bool(flags & _O_CREAT)
        m = e.rec.args.get("mode")
        return bool(flags & _O_CREAT) and isinstance(m, int) and bool(m & 0o111)

    return extract


def _container_field(get: Callable[[ContainerInfo], Any], host: Any = None) -> _Extractor:
    def extract(e: SyscallEvent, _a: str | None) -> Any:
        if e.proc is None:
            return None
        if e.proc.container_id == "host":
            return host
        info = e.container()
        return get(info) if info is not None else None

    return extract


def _label(key: str) -> _Extractor:
    return _container_field(lambda c: c.labels.get(key))


def _mount_field(get: Callable[[ContainerMount], Any], key_attr: str) -> _Extractor:
    """Falco's ``container.mount*[KEY]``: KEY is an index, else matched against ``key_attr``
    (the mount's source for most fields, its destination for ``container.mount.source``)."""

    def extract(e: SyscallEvent, a: str | None) -> Any:
        if a is None or e.proc is None or e.proc.container_id == "host":
            return None
        info = e.container()
        if info is None:
            return None
        if a.isdigit():
            index = int(a)
            return get(info.mounts[index]) if index < len(info.mounts) else None
        for m in info.mounts:
            if getattr(m, key_attr) == a:
                return get(m)
        return None

    return extract


def _host_field(get: Callable[[HostInfo], Any]) -> _Extractor:
    """Fields of the sensor's host; contexts without one (replays, tests) leave them None."""

    def extract(e: SyscallEvent, _a: str | None) -> Any:
        host = getattr(e.ctx, "host", None)
        return get(host) if host is not None else None

    return extract


def _user(e: SyscallEvent, uid: int | None) -> str | None:
    if e.proc is None or uid is None or uid < 0:
        return None
    return e.ctx.user_name(e.proc, uid)


def _proc_cwd(e: SyscallEvent, _a: str | None) -> str | None:
    if e.proc is None:
        return None
    return e.ctx.cwd(e.proc)


def _rawarg_extractor(name: str) -> _Extractor:
    def extract(e: SyscallEvent, _a: str | None) -> str | None:
        value = e.rec.args.get(name)
        return None if value is None else str(value)

    return extract


def _arg_extractor(name: str) -> _Extractor:
    return lambda e, _a: e.arg_text(name)


def _evt_args(e: SyscallEvent, _a: str | None) -> str:
    parts = [f"{k}={e.arg_text(k)}" for k in e.rec.args]
    return " ".join(parts)


def _duration(e: SyscallEvent, p: ProcessInfo | None) -> int | None:
    if p is None or not p.start_ns:
        return None
    return max(0, e.rec.ts - p.start_ns)


def _build() -> dict[str, _Extractor]:
    pname = _proc_attr("comm")
    x: dict[str, _Extractor] = {
        "evt.type": lambda e, a: e.rec.evt_type,
        "syscall.type": lambda e, a: e.rec.evt_type,
        "evt.dir": lambda e, a: "<",
        "evt.num": lambda e, a: e.num,
        "evt.rawtime": lambda e, a: e.time_ns(),
        "evt.res": lambda e, a: _errno_name(e.rec.res),
        "evt.rawres": lambda e, a: e.rec.res,
        "evt.failed": lambda e, a: e.rec.res < 0,
        "evt.args": _evt_args,
        "evt.arg": lambda e, a: e.arg_text(a or ""),
        "evt.rawarg": lambda e, a: None if (v := e.rec.args.get(a or "")) is None else str(v),
        "evt.is_open_read": _is_open("read"),
        "evt.is_open_write": _is_open("write"),
        "evt.is_open_create": _is_open("create"),
        "evt.is_open_exec": _is_open("exec"),
        "evt.count": lambda e, a: 1,
        "proc.name": lambda e, a: pname(e.proc),
        "proc.exe": lambda e, a: e.proc.exe if e.proc else None,
        "proc.exepath": lambda e, a: e.proc.exepath or None if e.proc else None,
        "proc.pexepath": lambda e, a: (p.exepath or None) if (p := e.ancestor(1)) else None,
        "proc.aexepath": _by_ancestor(lambda p: (p.exepath or None) if p else None),
        "proc.cmdline": lambda e, a: _cmdline(e.proc),
        "proc.pcmdline": lambda e, a: _cmdline(e.ancestor(1)),
        "proc.acmdline": _by_ancestor(_cmdline),
        "proc.cmdnargs": lambda e, a: len(e.proc.args) if e.proc else None,
        "proc.cmdlenargs": lambda e, a: sum(len(s) for s in e.proc.args) if e.proc else None,
        "proc.args": lambda e, a: " ".join(e.proc.args) if e.proc else None,
        "proc.pid": lambda e, a: e.rec.pid,
        "proc.ppid": lambda e, a: e.proc.ppid if e.proc else None,
        "proc.apid": _by_ancestor(lambda p: p.pid if p else None),
        "proc.vpid": lambda e, a: e.proc.vpid if e.proc and e.proc.vpid is not None else None,
        "proc.pname": lambda e, a: pname(e.ancestor(1)),
        "proc.aname": _aname,
        "proc.pexe": lambda e, a: (p.exe or None) if (p := e.ancestor(1)) else None,
        "proc.aexe": _by_ancestor(lambda p: (p.exe or None) if p else None),
        "proc.cwd": _proc_cwd,
        "proc.tty": lambda e, a: e.proc.tty if e.proc else None,
        "proc.duration": lambda e, a: _duration(e, e.proc),
        "proc.ppid.duration": lambda e, a: _duration(e, e.ancestor(1)),
        "proc.pid.ts": lambda e, a: e.ctx.wall_ns(e.proc.start_ns) if e.proc and e.proc.start_ns else None,
        "proc.is_container_healthcheck": lambda e, a: False,
        "proc.sname": lambda e, a: pname(_session_leader(e)),
        "proc.is_exe_from_memfd": lambda e, a: e.proc.exe_from_memfd if e.proc else None,
        "proc.exe_ino": lambda e, a: e.proc.exe_ino or None if e.proc else None,
        "proc.exe_ino.ctime": lambda e, a: e.proc.exe_ctime_ns or None if e.proc else None,
        "proc.exe_ino.mtime": lambda e, a: e.proc.exe_mtime_ns or None if e.proc else None,
        "proc.exe_ino.ctime_duration_proc_start": _ctime_since_start,
        "proc.env": _env,
        "thread.cap_effective": lambda e, a: caps_text(e.proc.cap_effective) if e.proc else None,
        "thread.cap_permitted": lambda e, a: caps_text(e.proc.cap_permitted) if e.proc else None,
        "proc.is_exe_upper_layer": lambda e, a: e.proc.exe_upper_layer if e.proc else None,
        "yamori.drift.action": lambda e, a: (
            None
            if e.proc is None or not e.proc.exe_upper_layer
            else ("killed" if e.proc.drift_killed else "alerted")
        ),
        "proc.is_container_liveness_probe": lambda e, a: False,
        "proc.is_container_readiness_probe": lambda e, a: False,
        "thread.tid": lambda e, a: e.rec.tid,
        "thread.ismain": lambda e, a: e.rec.tid == e.rec.pid,
        "user.uid": lambda e, a: (
            e.proc.uid if e.proc and e.proc.uid is not None and e.proc.uid >= 0 else None
        ),
        "user.name": lambda e, a: _user(e, e.proc.uid if e.proc else None),
        "user.loginuid": lambda e, a: e.proc.loginuid if e.proc and e.proc.loginuid is not None else None,
        "user.loginname": lambda e, a: _user(e, e.proc.loginuid if e.proc else None),
        "group.gid": lambda e, a: (
            e.proc.gid if e.proc and e.proc.gid is not None and e.proc.gid >= 0 else None
        ),
        "group.name": lambda e, a: (
            e.ctx.group_name(e.proc, e.proc.gid)
            if e.proc and e.proc.gid is not None and e.proc.gid >= 0
            else None
        ),
        "fd.num": _fd_num,
        "fd.name": _fd_name,
        "fd.nameraw": lambda e, a: (
            v if e.is_open() and isinstance(v := e.rec.args.get("name"), str) else None
        ),
        "fd.typechar": _fd_typechar,
        "fd.type": _fd_type,
        "fd.directory": _fd_directory,
        "fd.filename": _fd_filename,
        "fd.name_changed": _fd_name_changed,
        "fd.cip": _sock_field(lambda i: i.cip),
        "fd.sip": _sock_field(lambda i: i.sip),
        "fd.cport": _sock_field(lambda i: i.cport),
        "fd.sport": _sock_field(lambda i: i.sport),
        "fd.lip": _sock_field(lambda i: _ends(i)[0][0]),
        "fd.lport": _sock_field(lambda i: _ends(i)[0][1]),
        "fd.rip": _sock_field(lambda i: _ends(i)[1][0]),
        "fd.rport": _sock_field(lambda i: _ends(i)[1][1]),
        "fd.ip": _sock_field(lambda i: _either(i.cip, i.sip)),
        "fd.port": _sock_field(lambda i: _either(i.cport, i.sport)),
        "fd.net": _sock_field(lambda i: _either(i.cip, i.sip)),
        "fd.cnet": _sock_field(lambda i: i.cip),
        "fd.snet": _sock_field(lambda i: i.sip),
        "fd.lnet": _sock_field(lambda i: _ends(i)[0][0]),
        "fd.rnet": _sock_field(lambda i: _ends(i)[1][0]),
        "fd.cip.name": _ip_names(lambda i: i.cip),
        "fd.sip.name": _ip_names(lambda i: i.sip),
        "fd.lip.name": _ip_names(lambda i: _ends(i)[0][0]),
        "fd.rip.name": _ip_names(lambda i: _ends(i)[1][0]),
        "fd.l4proto": _sock_field(lambda i: i.l4proto),
        "fd.sockfamily": _fd_sockfamily,
        "fd.is_server": _fd_socket_flag("is_server"),
        "fd.connected": _fd_socket_flag("connected"),
        "fs.path.name": lambda e, a: _fs_path(e, ("path", "name", "filename")),
        "fs.path.nameraw": lambda e, a: _fs_raw(e, ("path", "name", "filename")),
        "fs.path.source": lambda e, a: _fs_path(e, ("oldpath", "target")),
        "fs.path.sourceraw": lambda e, a: _fs_raw(e, ("oldpath", "target")),
        "fs.path.target": lambda e, a: _fs_path(e, ("newpath", "linkpath")),
        "fs.path.targetraw": lambda e, a: _fs_raw(e, ("newpath", "linkpath")),
        "container.id": _container_field(lambda c: c.id[:12], "host"),
        "container.full_id": _container_field(lambda c: c.id, "host"),
        "container.name": _container_field(lambda c: c.name, "host"),
        "container.image": _container_field(lambda c: c.image),
        "container.image.id": _container_field(lambda c: c.image_id[:12] if c.image_id else None),
        "container.image.repository": _container_field(lambda c: _repository(c.image) if c.image else None),
        "container.image.tag": _container_field(lambda c: _tag(c.image) if c.image else None),
        "container.image.digest": _container_field(lambda c: c.image_digest),
        "container.type": _container_field(lambda c: c.runtime),
        "container.privileged": _container_field(lambda c: c.privileged),
        "container.mounts": _container_field(lambda c: ",".join(map(str, c.mounts)) if c.mounts else None),
        "container.mount": _mount_field(lambda m: str(m), "source"),
        "container.mount.source": _mount_field(lambda m: m.source, "dest"),
        "container.mount.dest": _mount_field(lambda m: m.dest, "source"),
        "container.mount.mode": _mount_field(lambda m: m.mode, "source"),
        "container.mount.rdwr": _mount_field(lambda m: "true" if m.rdwr else "false", "source"),
        "container.mount.propagation": _mount_field(lambda m: m.propagation, "source"),
        "container.start_ts": _container_field(lambda c: c.start_ns),
        "container.duration": lambda e, a: (
            max(0, e.time_ns() - c.start_ns) if (c := e.container()) is not None and c.start_ns else None
        ),
        "container.healthcheck": _container_field(lambda c: c.healthcheck),
        "container.label": lambda e, a: _label(a or "")(e, a),
        "container.labels": _container_field(
            lambda c: ", ".join(f"{k}:{v}" for k, v in sorted(c.labels.items())) or None
        ),
        "k8s.ns.name": _container_field(lambda c: c.k8s_ns or c.labels.get("io.kubernetes.pod.namespace")),
        "k8s.pod.name": _container_field(lambda c: c.k8s_pod_name or c.labels.get("io.kubernetes.pod.name")),
        "k8s.pod.id": _container_field(lambda c: c.k8s_pod_uid or c.labels.get("io.kubernetes.pod.uid")),
        "k8s.pod.uid": _container_field(lambda c: c.k8s_pod_uid or c.labels.get("io.kubernetes.pod.uid")),
        "k8s.pod.sandbox_id": _container_field(lambda c: c.k8s_sandbox_id[:12] if c.k8s_sandbox_id else None),
        "k8s.pod.full_sandbox_id": _container_field(lambda c: c.k8s_sandbox_id),
        "k8s.pod.label": lambda e, a: _container_field(lambda c: c.k8s_pod_labels.get(a or ""))(e, a),
        "k8s.pod.labels": _container_field(
            lambda c: ", ".join(f"{k}:{v}" for k, v in sorted(c.k8s_pod_labels.items())) or None
        ),
        "k8s.container.name": _label("io.kubernetes.container.name"),
        "evt.hostname": _host_field(lambda h: h.hostname),
        "cloud.provider": _host_field(lambda h: h.cloud_provider),
        "cloud.account.id": _host_field(lambda h: h.account_id),
        "cloud.region": _host_field(lambda h: h.region),
        "cloud.availability_zone": _host_field(lambda h: h.availability_zone),
        "cloud.instance.id": _host_field(lambda h: h.instance_id),
        "cloud.instance.type": _host_field(lambda h: h.instance_type),
        "cloud.image.id": _host_field(lambda h: h.image_id),
    }
    for n in ARG_NAMES:
        x[f"evt.arg.{n}"] = _arg_extractor(n)
        x[f"evt.rawarg.{n}"] = _rawarg_extractor(n)
    # socket calls: Falco's tuple (connect, accept) and addr (bind, sendto) arguments
    x["evt.arg.tuple"] = x["evt.rawarg.tuple"] = lambda e, a: (
        _fd_name(e, a) if e.rec.sock is not None and e.rec.evt_type in _TUPLE_TYPES else None
    )
    x["evt.arg.addr"] = x["evt.rawarg.addr"] = lambda e, a: _addr_text(e)
    return x


_TUPLE_TYPES = frozenset({"connect", "accept", "accept4"})


def _addr_text(e: SyscallEvent) -> str | None:
    sock = e.rec.sock
    if sock is None or e.rec.evt_type not in ("bind", "sendto", "connect"):
        return None
    if sock.path is not None:
        return sock.path
    return f"{sock.addr[0]}:{sock.addr[1]}" if sock.addr is not None else None


def _fs_raw(e: SyscallEvent, names: tuple[str, ...]) -> str | None:
    for n in names:
        v = e.rec.args.get(n)
        if isinstance(v, str):
            return v
    return None


def _fs_path(e: SyscallEvent, names: tuple[str, ...]) -> str | None:
    raw = _fs_raw(e, names)
    if raw is None or raw.startswith("/") or e.proc is None:
        return raw
    cwd = _proc_cwd(e, None)
    return posixpath.normpath(posixpath.join(cwd, raw)) if cwd else raw


_EXTRACTORS = _build()

UNFILLED: tuple[str, ...] = tuple(sorted(n for n in _FIELDS if n not in _EXTRACTORS))
"""Fields defined for compatibility that this sensor does not fill (always None / ``<NA>``)."""
