"""The process table: what every live (and recently exited) process is, so a syscall record that
carries only a pid can answer ``proc.pname``, ``proc.aname[3]``, ``proc.cmdline`` or
``container.id``.

Seeded from ``/proc`` when the sensor starts (processes older than the sensor never produce an
exec record), then kept current from the lifecycle records: fork copies the parent (a child
shares its parent's image, user, cwd and container until it execs), exec replaces the image,
exit marks the entry. Exited entries are kept while there is room, because events can still
arrive for them (per-CPU buffers are read out of order) and their children still name them as
ancestors; they are evicted oldest first once the table is full. Live entries are never evicted
for exited ones' sake; if the table is full of live processes the oldest-touched go, and the
eviction is counted.
"""

from __future__ import annotations

import os
import posixpath
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from yamori.sensor.containers import container_id_from_cgroup_name, container_id_of_pid
from yamori.sensor.interface import ProcessInfo, RawRecord

__all__ = ["ENV_LIMIT", "ProcessTable", "read_environ", "read_proc_entry"]

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def absolute_path(path: str, cwd: str | None) -> str:
    """``path`` normalised and, when relative, joined to ``cwd`` (``/`` when unknown): how the
    sensor turns a syscall's path argument into Falco's ``fd.name``-style absolute path."""
    if path.startswith("/"):
        return posixpath.normpath(path)
    return posixpath.normpath(posixpath.join(cwd or "/", path))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _link(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


ENV_LIMIT = 4096
"""Bytes of ``/proc/PID/environ`` kept (Falco's driver keeps the same amount)."""


def read_environ(pid: int, proc: Path = Path("/proc")) -> list[str] | None:
    """``NAME=value`` items of a process's environment, bounded (None when unreadable)."""
    try:
        with open(proc / str(pid) / "environ", "rb") as f:
            data = f.read(ENV_LIMIT + 1)
    except OSError:
        return None
    items = data[:ENV_LIMIT].split(b"\0")
    if len(data) > ENV_LIMIT or not data.endswith(b"\0"):
        items = items[:-1]  # the last item was cut at the bound
    return [os.fsdecode(i) for i in items if i]


def read_proc_entry(pid: int, proc: Path = Path("/proc"), env: bool = False) -> ProcessInfo | None:
    """One process from ``/proc/PID`` (None when it is gone or unreadable)."""
    base = proc / str(pid)
    stat = _read(base / "stat")
    if stat is None:
        return None
    # comm may contain spaces and parentheses: it ends at the last ')'
    lpar, rpar = stat.find(b"("), stat.rfind(b")")
    comm = os.fsdecode(stat[lpar + 1 : rpar])
    rest = stat[rpar + 2 :].split()
    try:
        ppid = int(rest[1])
        sid = int(rest[3])
        tty = int(rest[4])
        start_ns = int(rest[19]) * 1_000_000_000 // _CLK_TCK
    except (IndexError, ValueError):
        return None
    info = ProcessInfo(pid=pid, ppid=ppid, comm=comm, tty=tty, start_ns=start_ns, from_proc=True, sid=sid)
    cmdline = _read(base / "cmdline") or b""
    argv = [os.fsdecode(a) for a in cmdline.rstrip(b"\0").split(b"\0")] if cmdline else []
    if argv:
        info.exe, info.args = argv[0], argv[1:]
    info.exepath = _link(base / "exe") or ""
    if info.exepath.endswith(" (deleted)"):
        info.exepath = info.exepath[: -len(" (deleted)")]
    if info.exepath.startswith("/memfd:"):
        info.exepath, info.exe_from_memfd = info.exepath[1:], True  # as Falco's BPF drivers
    elif info.exepath:
        info.exe_from_memfd = False
    try:
        st = os.stat(base / "exe")
        info.exe_ino, info.exe_ctime_ns, info.exe_mtime_ns = st.st_ino, st.st_ctime_ns, st.st_mtime_ns
    except OSError:
        pass
    info.cwd = _link(base / "cwd")
    status = _read(base / "status") or b""
    for line in status.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        fields = value.split()
        if key == "Uid" and fields:
            info.uid = int(fields[1])  # effective, as Falco's user.uid
        elif key == "Gid" and fields:
            info.gid = int(fields[1])
        elif key == "NSpid" and fields:
            info.vpid = int(fields[-1])
        elif key == "CapEff" and fields:
            info.cap_effective = int(fields[0], 16)
        elif key == "CapPrm" and fields:
            info.cap_permitted = int(fields[0], 16)
    loginuid = _read(base / "loginuid")
    if loginuid is not None:
        try:
            login = int(loginuid)
            info.loginuid = -1 if login == 0xFFFFFFFF else login
        except ValueError:
            pass
    info.container_id = container_id_of_pid(pid, proc) or "host"
    if env:
        info.env = read_environ(pid, proc)
    return info


class ProcessTable:
    """Processes by pid (thread group id), bounded to ``limit`` entries."""

    def __init__(self, limit: int = 32768, proc: Path = Path("/proc")) -> None:
        self.limit = limit
        self.proc = proc
        self._entries: OrderedDict[int, ProcessInfo] = OrderedDict()
        self._exited: OrderedDict[int, None] = OrderedDict()
        self.evicted_live = 0
        self.evicted_exited = 0
        self.misses = 0  # lookups answered from /proc because no record had been seen
        self.want_env = False  # keep environments (a loaded rule reads proc.env)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[ProcessInfo]:
        return iter(list(self._entries.values()))

    def seed(self) -> int:
        """Load every process from /proc; returns how many were read."""
        count = 0
        for name in os.listdir(self.proc):
            if name.isdigit():
                info = read_proc_entry(int(name), self.proc, self.want_env)
                if info is not None:
                    self._put(info)
                    count += 1
        return count

    def get(self, pid: int) -> ProcessInfo | None:
        return self._entries.get(pid)

    def lookup(self, pid: int) -> ProcessInfo | None:
        """The entry, or one read from /proc for a process no record introduced (then kept)."""
        info = self._entries.get(pid)
        if info is None and pid > 0:
            info = read_proc_entry(pid, self.proc, self.want_env)
            if info is not None:
                self.misses += 1
                self._put(info)
        return info

    def ancestors(self, info: ProcessInfo, limit: int = 64) -> Iterator[ProcessInfo]:
        """Parent, grandparent... (bounded: a pid cycle from reuse must not loop forever)."""
        seen = {info.pid}
        cur = info
        for _ in range(limit):
            if cur.ppid <= 0 or cur.ppid in seen:
                return
            parent = self._entries.get(cur.ppid)
            if parent is None:
                return
            seen.add(parent.pid)
            yield parent
            cur = parent

    # ----------------------------------------------------------------- updates from records

    def on_fork(self, rec: RawRecord) -> ProcessInfo:
        """A new task: a copy of the parent until it execs (threads get entries too, unused)."""
        parent = self.lookup(rec.pid)
        child = ProcessInfo(pid=rec.child_tid, ppid=rec.pid, start_ns=rec.ts)
        if parent is not None:
            child.comm, child.exe, child.exepath = parent.comm, parent.exe, parent.exepath
            child.args = parent.args
            child.cwd, child.uid, child.gid = parent.cwd, parent.uid, parent.gid
            child.loginuid, child.tty = parent.loginuid, parent.tty
            child.container_id = parent.container_id
            child.exe_upper_layer = parent.exe_upper_layer
            child.cap_effective, child.cap_permitted = parent.cap_effective, parent.cap_permitted
            child.sid, child.env = parent.sid, parent.env
            child.exe_ino, child.exe_from_memfd = parent.exe_ino, parent.exe_from_memfd
            child.exe_ctime_ns, child.exe_mtime_ns = parent.exe_ctime_ns, parent.exe_mtime_ns
        self._put(child)
        return child

    def on_exec(self, rec: RawRecord) -> ProcessInfo:
        """The new image of ``rec.pid``; the container comes from the kernel's cgroup name."""
        info = self._entries.get(rec.pid)
        if info is None:
            info = ProcessInfo(pid=rec.pid, ppid=rec.ppid, start_ns=rec.start_ns or rec.ts)
            parent = self._entries.get(rec.ppid)
            if parent is not None:
                info.cwd, info.container_id = parent.cwd, parent.container_id
            self._put(info)
        info.exited = False
        info.ppid = rec.ppid or info.ppid
        info.comm = rec.comm
        argv = rec.argv or []
        info.exe = argv[0] if argv else rec.exepath
        info.args = argv[1:]
        info.exepath = rec.exepath
        info.uid, info.gid, info.loginuid, info.tty = rec.uid, rec.gid, rec.loginuid, rec.tty
        if rec.start_ns:
            info.start_ns = rec.start_ns
        info.cap_effective, info.cap_permitted = rec.cap_effective, rec.cap_permitted
        info.sid = rec.sid if rec.sid else info.sid
        info.exe_ino, info.exe_from_memfd = rec.exe_ino, rec.exe_from_memfd
        info.exe_ctime_ns, info.exe_mtime_ns = rec.exe_ctime_ns, rec.exe_mtime_ns
        info.env = rec.env
        cid = container_id_from_cgroup_name(rec.cgroup) if rec.cgroup else None
        if cid is None:
            # not in a cgroup named after a container (cgroup v1 only, or a nested cgroup):
            # ask /proc while the process is likely still there, else keep what fork copied
            cid = container_id_of_pid(rec.pid, self.proc) or info.container_id
        info.container_id = cid
        self._entries.move_to_end(rec.pid)
        return info

    def on_exit(self, rec: RawRecord) -> None:
        """A task ended; a process entry is kept (marked) until room is needed."""
        if rec.tid != rec.pid:
            self._entries.pop(rec.tid, None)  # a thread: its entry was never used
            return
        info = self._entries.get(rec.pid)
        if info is not None:
            info.exited = True
            self._exited[rec.pid] = None

    def on_chdir(self, pid: int, path: str) -> None:
        info = self._entries.get(pid)
        if info is None:
            return
        if path == "":
            info.cwd = None  # fchdir: the target is an fd we do not track; ask /proc lazily
        else:
            info.cwd = posixpath.normpath(posixpath.join(info.cwd or "/", path))

    def cwd(self, info: ProcessInfo) -> str | None:
        """The working directory; read from /proc (and kept) when no record told it."""
        if info.cwd is None and not info.exited:
            info.cwd = _link(self.proc / str(info.pid) / "cwd")
        return info.cwd

    def _put(self, info: ProcessInfo) -> None:
        if info.pid in self._exited:
            del self._exited[info.pid]  # pid reused
        self._entries[info.pid] = info
        self._entries.move_to_end(info.pid)
        while len(self._entries) > self.limit:
            if self._exited:
                pid, _ = self._exited.popitem(last=False)
                self._entries.pop(pid, None)
                self.evicted_exited += 1
            else:
                self._entries.popitem(last=False)
                self.evicted_live += 1
