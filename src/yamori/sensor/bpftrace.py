"""Capture through Debian's bpftrace: generate a program for the syscalls the rules need, run it,
and decode its JSON lines into ``RawRecord`` objects.

Why bpftrace: it is a packaged, signed binary that compiles against the running kernel's BTF, so
the sensor ships no kernel code and needs no headers (measured costs in
``/work/shared/notes/ebpf.md``). Its limits shape the design:

- **Tracepoints only** (this kernel class has no kprobes): ``syscalls:sys_enter_X`` /
  ``sys_exit_X`` per syscall, ``sched:sched_process_{exec,fork,exit}`` for the lifecycle.
- **Narrow kernel side**: only the syscalls the loaded rules can match are attached (the
  compiled rules' ``evttypes``, as Falco derives its syscall set), plus the lifecycle probes the
  process table needs. The sensor's own process and its children (bpftrace, ``podman inspect``)
  are filtered in the kernel, or every ``/proc`` read would feed back into the stream. Opens
  that failed are dropped in the kernel unless asked for.
- **Arguments at exit**: entry arguments are stashed per thread in maps at ``sys_enter`` and
  printed at ``sys_exit`` with the result. User strings are read at exit, when the kernel has
  already faulted their pages in (a read at entry can fail on a page not yet present).
- **512-byte BPF stack**: a ``printf`` holding several 200-byte strings does not fit, so each
  string goes out on its own line after a header line; the header says how many string lines
  follow and every line carries ``(id, tid)`` so the parser reassembles the event even when
  lines of other CPUs interleave. ``id`` is the entry timestamp, unique per thread.
- **Wire format**: ``-f json`` wraps each printf in ``{"type": "printf", "data": "..."}``. Fields
  are separated by 0x1f; the one free-form string of a line is always its last field, so a path
  holding 0x1f (or any other byte) still splits correctly. bpftrace writes the string's raw
  bytes into the JSON, so lines are decoded as UTF-8 with ``surrogateescape``: paths that are
  not UTF-8 survive round trips to ``os.fsencode``. ``str()`` stops at ``BPFTRACE_STRLEN``
  (200, bpftrace 0.17's maximum): a string that fills it is flagged truncated.
- **argv** comes from the new image's ``mm->arg_start..arg_end`` in ``sched_process_exec``
  (``buf()``, printed with ``%r`` as ``\\xNN`` escapes), limited to 200 bytes. A literal
  backslash-x sequence inside an argument is indistinguishable from an escape (rare; noted).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from yamori.sensor.interface import CaptureBackend, CaptureStats, RawRecord, RecordKind

__all__ = [
    "LIFECYCLE_TYPES",
    "STRLEN",
    "SYSCALLS",
    "BpftraceBackend",
    "BpftraceError",
    "RecordAssembler",
    "SyscallSpec",
    "available_syscalls",
    "generate_program",
    "parse_json_line",
    "unescape_buf",
]

STRLEN = 200
"""bpftrace 0.17's maximum ``BPFTRACE_STRLEN``; strings of STRLEN-1 bytes may be truncated."""

SEP = "\x1f"

# evttypes the lifecycle probes produce; always attached.
LIFECYCLE_TYPES = frozenset({"execve", "execveat", "clone", "clone3", "fork", "vfork", "procexit"})


@dataclass(frozen=True, slots=True)
class Arg:
    """One syscall argument: Falco's name for it, the tracepoint field, and str or int."""

    name: str
    field: str
    string: bool = False


@dataclass(frozen=True, slots=True)
class SyscallSpec:
    """What to capture for one syscall (its tracepoint pair) and how Falco names its result."""

    name: str
    args: tuple[Arg, ...] = ()
    success_only: bool = False  # drop failed calls in the kernel (opens: most are noise)
    res_name: str = "res"  # Falco's name of the return value argument (``fd`` for opens)


def _s(name: str, field: str) -> Arg:
    return Arg(name, field, True)


def _i(name: str, field: str) -> Arg:
    return Arg(name, field, False)


_SPECS = (
    SyscallSpec("open", (_s("name", "filename"), _i("flags", "flags"), _i("mode", "mode")), True, "fd"),
    SyscallSpec(
        "openat",
        (_i("dirfd", "dfd"), _s("name", "filename"), _i("flags", "flags"), _i("mode", "mode")),
        True,
        "fd",
    ),
    # openat2's flags live in a user struct (``how``) that bpftrace 0.17 cannot read safely here.
    SyscallSpec("openat2", (_i("dirfd", "dfd"), _s("name", "filename")), True, "fd"),
    SyscallSpec("creat", (_s("name", "pathname"), _i("mode", "mode")), True, "fd"),
    SyscallSpec("symlink", (_s("target", "oldname"), _s("linkpath", "newname"))),
    SyscallSpec("symlinkat", (_s("target", "oldname"), _i("linkdirfd", "newdfd"), _s("linkpath", "newname"))),
    SyscallSpec("link", (_s("oldpath", "oldname"), _s("newpath", "newname"))),
    SyscallSpec(
        "linkat",
        (
            _i("olddir", "olddfd"),
            _s("oldpath", "oldname"),
            _i("newdir", "newdfd"),
            _s("newpath", "newname"),
            _i("flags", "flags"),
        ),
    ),
    SyscallSpec("unlink", (_s("path", "pathname"),)),
    SyscallSpec("unlinkat", (_i("dirfd", "dfd"), _s("name", "pathname"), _i("flags", "flag"))),
    SyscallSpec("rename", (_s("oldpath", "oldname"), _s("newpath", "newname"))),
    SyscallSpec(
        "renameat",
        (
            _i("olddirfd", "olddfd"),
            _s("oldpath", "oldname"),
            _i("newdirfd", "newdfd"),
            _s("newpath", "newname"),
        ),
    ),
    SyscallSpec(
        "renameat2",
        (
            _i("olddirfd", "olddfd"),
            _s("oldpath", "oldname"),
            _i("newdirfd", "newdfd"),
            _s("newpath", "newname"),
            _i("flags", "flags"),
        ),
    ),
    SyscallSpec("mkdir", (_s("path", "pathname"), _i("mode", "mode"))),
    SyscallSpec("mkdirat", (_i("dirfd", "dfd"), _s("path", "pathname"), _i("mode", "mode"))),
    SyscallSpec("rmdir", (_s("path", "pathname"),)),
    SyscallSpec("chmod", (_s("filename", "filename"), _i("mode", "mode"))),
    SyscallSpec("fchmod", (_i("fd", "fd"), _i("mode", "mode"))),
    SyscallSpec("fchmodat", (_i("dirfd", "dfd"), _s("filename", "filename"), _i("mode", "mode"))),
    SyscallSpec("chdir", (_s("path", "filename"),)),
    SyscallSpec("fchdir", (_i("fd", "fd"),)),
    SyscallSpec("ptrace", (_i("request", "request"), _i("pid", "pid"))),
    SyscallSpec("setuid", (_i("uid", "uid"),)),
    SyscallSpec("setgid", (_i("gid", "gid"),)),
    SyscallSpec("memfd_create", (_s("name", "uname"), _i("flags", "flags")), False, "fd"),
    SyscallSpec("dup", (_i("fd", "fildes"),)),
    SyscallSpec("dup2", (_i("oldfd", "oldfd"), _i("newfd", "newfd"))),
    SyscallSpec("dup3", (_i("oldfd", "oldfd"), _i("newfd", "newfd"), _i("flags", "flags"))),
    SyscallSpec("socket", (_i("domain", "family"), _i("type", "type"), _i("proto", "protocol")), False, "fd"),
    SyscallSpec("connect", (_i("fd", "fd"),)),
    SyscallSpec("accept", (_i("fd", "fd"),), False, "fd"),
    SyscallSpec("accept4", (_i("fd", "fd"), _i("flags", "flags")), False, "fd"),
    SyscallSpec("bind", (_i("fd", "fd"),)),
    SyscallSpec("listen", (_i("fd", "fd"), _i("backlog", "backlog"))),
    SyscallSpec("mount", (_s("dev", "dev_name"), _s("dir", "dir_name"), _i("flags", "flags"))),
    SyscallSpec("umount2", (_s("name", "name"), _i("flags", "flags"))),
    SyscallSpec("ioctl", (_i("fd", "fd"), _i("request", "cmd"))),
    SyscallSpec("bpf", (_i("cmd", "cmd"),)),
    SyscallSpec("unshare", (_i("flags", "unshare_flags"),)),
    SyscallSpec("setns", (_i("fd", "fd"), _i("nstype", "flags"))),
    SyscallSpec("kill", (_i("pid", "pid"), _i("sig", "sig"))),
    SyscallSpec("userfaultfd", (_i("flags", "flags"),)),
    SyscallSpec("prctl", (_i("option", "option"),)),
    SyscallSpec("sendto", (_i("fd", "fd"),)),
    SyscallSpec("sendmsg", (_i("fd", "fd"),)),
    SyscallSpec("recvfrom", (_i("fd", "fd"),)),
)
SYSCALLS: dict[str, SyscallSpec] = {s.name: s for s in _SPECS}
# Falco's event name -> the tracepoint name where they differ.
_TRACEPOINT = {"umount2": "umount"}


def tracepoint_name(syscall: str) -> str:
    return _TRACEPOINT.get(syscall, syscall)


def available_syscalls(tracefs: Path = Path("/sys/kernel/tracing")) -> set[str] | None:
    """Syscalls with enter/exit tracepoints on this kernel (None when tracefs is unreadable)."""
    base = tracefs / "events" / "syscalls"
    try:
        names = {p.name[len("sys_exit_") :] for p in base.iterdir() if p.name.startswith("sys_exit_")}
    except OSError:
        return None
    return names


def _filter(self_pid: int) -> str:
    """Skip the sensor itself and its children (bpftrace, podman inspect) in the kernel."""
    return f"pid != {self_pid} && curtask->real_parent->tgid != {self_pid}"


def _syscall_probes(spec: SyscallSpec, self_pid: int, emit_failed: bool) -> str:
    tp = tracepoint_name(spec.name)
    ints = [a for a in spec.args if not a.string]
    strs = [a for a in spec.args if a.string]
    stash = ["@ts[tid] = nsecs;"]
    stash += [f"@i{n}[tid] = (int64)args->{a.field};" for n, a in enumerate(ints)]
    stash += [f"@s{n}[tid] = (uint64)args->{a.field};" for n, a in enumerate(strs)]
    # the first string rides on the header line (most events have one: a single line each)
    fmt = SEP.join(
        ["S", "%llu", "%d", "%d", spec.name, "%lld", str(len(strs)), str(len(ints))]
        + ["%lld"] * len(ints)
        + (["%s"] if strs else [])
    )
    values = ["$id", "tid", "pid", "args->ret"] + [f"@i{n}[tid]" for n in range(len(ints))]
    if strs:
        values.append("str(uptr(@s0[tid]))")
    emit = [f'printf("{_c(fmt)}\\n", {", ".join(values)});']
    for n in range(1, len(strs)):
        line = SEP.join(["P", "%llu", "%d", str(n), "%s"])
        emit.append(f'printf("{_c(line)}\\n", $id, tid, str(uptr(@s{n}[tid])));')
    cleanup = ["delete(@ts[tid]);"]
    cleanup += [f"delete(@i{n}[tid]);" for n in range(len(ints))]
    cleanup += [f"delete(@s{n}[tid]);" for n in range(len(strs))]
    body = "\n    ".join(emit)
    if spec.success_only and not emit_failed:
        body = "if (args->ret >= 0) {\n    " + body + "\n  }"
    return (
        f"tracepoint:syscalls:sys_enter_{tp} /{_filter(self_pid)}/ {{\n  {' '.join(stash)}\n}}\n"
        f"tracepoint:syscalls:sys_exit_{tp} /@ts[tid]/ {{\n  $id = @ts[tid];\n  {body}\n"
        f"  {' '.join(cleanup)}\n}}\n"
    )


def _c(text: str) -> str:
    """A printf format with the separator written as a C escape."""
    return text.replace(SEP, "\\x1f")


def _lifecycle_probes(self_pid: int) -> str:
    flt = _filter(self_pid)
    header = SEP.join(
        ["X", "%llu", "%d", "%d", "%d", "%u", "%u", "%u", "%d", "%d", "%d", "%llu", "%d", "3", "%s"]
    )
    failed = {t: _c(SEP.join(["S", "%llu", "%d", "%d", t, "%lld", "0", "0"])) for t in ("execve", "execveat")}
    part = [_c(SEP.join(["P", "%llu", "%d", str(n), "%r" if n == 1 else "%s"])) for n in range(3)]
    argv = f"buf(uptr($mm->arg_start), $n > {STRLEN} ? {STRLEN} : $n)"
    return f"""\
tracepoint:syscalls:sys_enter_execve /{flt}/ {{ @ex[tid] = 1; }}
tracepoint:syscalls:sys_enter_execveat /{flt}/ {{ @ex[tid] = 2; }}
tracepoint:syscalls:sys_exit_execve /@ex[tid]/ {{
  if (args->ret < 0) {{ printf("{failed["execve"]}\\n", nsecs, tid, pid, args->ret); }}
  delete(@ex[tid]);
}}
tracepoint:syscalls:sys_exit_execveat /@ex[tid]/ {{
  if (args->ret < 0) {{ printf("{failed["execveat"]}\\n", nsecs, tid, pid, args->ret); }}
  delete(@ex[tid]);
}}
tracepoint:sched:sched_process_exec /{flt}/ {{
  $id = nsecs;
  $t = curtask;
  $mm = $t->mm;
  $n = $mm->arg_end - $mm->arg_start;
  $kn = (struct kernfs_node *)$t->cgroups->dfl_cgrp->kn;
  $tty = (struct tty_struct *)$t->signal->tty;
  printf("{_c(header)}\\n",
    $id, tid, pid, $t->real_parent->tgid, $t->cred->uid.val, $t->cred->gid.val, $t->loginuid.val,
    $tty != 0 ? $tty->driver->major : 0, $tty != 0 ? $tty->driver->minor_start + $tty->index : 0,
    args->old_pid, $t->start_time, @ex[args->old_pid], comm);
  printf("{part[0]}\\n", $id, tid, str(args->filename));
  printf("{part[1]}\\n", $id, tid, {argv});
  printf("{part[2]}\\n", $id, tid, str($kn->name));
  delete(@ex[args->old_pid]);
}}
tracepoint:sched:sched_process_fork /{flt}/ {{
  printf("{_c(SEP.join(["F", "%llu", "%d", "%d", "%d"]))}\\n", nsecs, tid, pid, args->child_pid);
}}
tracepoint:sched:sched_process_exit /{flt}/ {{
  printf("{_c(SEP.join(["Q", "%llu", "%d", "%d"]))}\\n", nsecs, tid, pid);
}}
"""


def generate_program(
    evttypes: Iterable[str],
    self_pid: int,
    *,
    available: set[str] | None = None,
    emit_failed_opens: bool = False,
) -> tuple[str, list[str], list[str]]:
    """The bpftrace program for these Falco event types.

    Returns (program, attached syscalls, skipped event types). An event type is skipped when
    the sensor has no capture spec for it or the kernel lacks its tracepoint; the lifecycle
    types are always produced by the fixed probes. ``chdir`` is always attached: the process
    table follows working directories to resolve relative paths to absolute ``fd.name``.
    """
    wanted = set(evttypes) | {"chdir", "fchdir"}
    attached: list[str] = []
    skipped: list[str] = []
    parts = [_lifecycle_probes(self_pid)]
    maps = {"@ex"}
    for name in sorted(wanted):
        if name in LIFECYCLE_TYPES:
            continue
        spec = SYSCALLS.get(name)
        if spec is None or (available is not None and tracepoint_name(name) not in available):
            skipped.append(name)
            continue
        attached.append(name)
        parts.append(_syscall_probes(spec, self_pid, emit_failed_opens))
        maps.add("@ts")
        spec_ints = sum(1 for a in spec.args if not a.string)
        spec_strs = len(spec.args) - spec_ints
        maps.update(f"@i{n}" for n in range(spec_ints))
        maps.update(f"@s{n}" for n in range(spec_strs))
    # bpftrace prints every non-empty map when it exits: clear the per-thread stashes first.
    parts.append("END {\n  " + " ".join(f"clear({m});" for m in sorted(maps)) + "\n}\n")
    return "".join(parts), attached, skipped


# --------------------------------------------------------------------------- decoding

_HEX = re.compile(r"\\x([0-9a-fA-F]{2})")


def unescape_buf(text: str) -> bytes:
    """Undo bpftrace's ``%r`` rendering (printable bytes as themselves, the rest ``\\xNN``)."""
    raw = text.encode("utf-8", "surrogateescape")
    return _HEX.sub(lambda m: bytes([int(m.group(1), 16)]).decode("latin-1"), raw.decode("latin-1")).encode(
        "latin-1"
    )


def _decode_argv(text: str) -> list[str]:
    data = unescape_buf(text)
    if data.endswith(b"\0"):
        data = data[:-1]
    if not data:
        return []
    return [os.fsdecode(part) for part in data.split(b"\0")]


def parse_json_line(line: bytes) -> tuple[str, object] | None:
    """One line of ``bpftrace -f json`` output -> (type, data); None when it is not JSON.

    Raw non-UTF-8 bytes (paths) are kept as surrogate escapes rather than rejected.
    """
    try:
        doc = json.loads(line.decode("utf-8", "surrogateescape"))
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        return None
    return doc["type"], doc.get("data")


@dataclass(slots=True)
class _Pending:
    header: list[str]
    tail: str  # the free-form last field of the header (comm for exec)
    parts: dict[int, str]
    expected: int


class RecordAssembler:
    """Reassemble printf lines into ``RawRecord`` objects (see the module docstring).

    Pending events are bounded (``limit``); the oldest is discarded and counted in
    ``stats.incomplete`` when an event's string lines never arrive (lost in the perf buffer).
    """

    def __init__(self, stats: CaptureStats | None = None, limit: int = 4096) -> None:
        self.stats = stats if stats is not None else CaptureStats()
        self.limit = limit
        self._pending: OrderedDict[tuple[int, int], _Pending] = OrderedDict()

    def feed(self, data: str) -> RawRecord | None:
        """One printf payload; returns a record when this line completes one."""
        text = data[:-1] if data.endswith("\n") else data
        tag = text[:1]
        try:
            if tag == "P":
                _, sid, stid, sidx, value = text.split(SEP, 4)
                key = (int(sid), int(stid))
                pending = self._pending.get(key)
                if pending is None:
                    self.stats.incomplete += 1
                    return None
                pending.parts[int(sidx)] = value
                if len(pending.parts) >= pending.expected:
                    del self._pending[key]
                    return self._build(pending)
                return None
            if tag in ("S", "X"):
                return self._header(text)
            if tag == "F":
                _, sid, stid, spid, schild = text.split(SEP, 4)
                return RawRecord(
                    RecordKind.FORK, int(sid), int(stid), int(spid), "clone", child_tid=int(schild)
                )
            if tag == "Q":
                _, sid, stid, spid = text.split(SEP, 3)
                return RawRecord(RecordKind.EXIT, int(sid), int(stid), int(spid), "procexit")
        except ValueError:
            pass
        self.stats.malformed += 1
        return None

    def _header(self, text: str) -> RawRecord | None:
        if text[0] == "X":
            fields = text.split(SEP, 14)
            if len(fields) != 15:
                raise ValueError(text)
            head, tail, expected = fields[:14], fields[14], 3
        else:
            # S|id|tid|pid|name|ret|nstr|nint|int...[|first string, free-form]
            fields = text.split(SEP, 8)
            if len(fields) < 8:
                raise ValueError(text)
            nstr, nint = int(fields[6]), int(fields[7])
            rest = fields[8] if len(fields) > 8 else ""
            first: dict[int, str] = {}
            if nstr:
                values = rest.split(SEP, nint)
                if len(values) != nint + 1:
                    raise ValueError(text)
                ints, first[0] = values[:nint], values[nint]
            else:
                ints = rest.split(SEP) if rest else []
            if len(ints) != nint:
                raise ValueError(text)
            head, tail, expected = [*fields[:7], *ints], "", nstr
            pending = _Pending(head, tail, first, expected)
            if len(first) >= expected:
                return self._build(pending)
            key = (int(head[1]), int(head[2]))
            self._pending[key] = pending
            if len(self._pending) > self.limit:
                self._pending.popitem(last=False)
                self.stats.incomplete += 1
            return None
        pending = _Pending(head, tail, {}, expected)
        if expected == 0:
            return self._build(pending)
        key = (int(head[1]), int(head[2]))
        self._pending[key] = pending
        if len(self._pending) > self.limit:
            self._pending.popitem(last=False)
            self.stats.incomplete += 1
        return None

    def _build(self, p: _Pending) -> RawRecord:
        h = p.header
        ts, tid, pid = int(h[1]), int(h[2]), int(h[3])
        if h[0] == "X":
            major, minor = int(h[8]), int(h[9])
            argv = _decode_argv(p.parts.get(1, ""))
            filename = p.parts.get(0, "")
            trunc = {"exepath"} if len(filename.encode("utf-8", "surrogateescape")) >= STRLEN - 1 else set()
            if len(unescape_buf(p.parts.get(1, ""))) >= STRLEN:
                trunc.add("argv")
            loginuid = int(h[7])
            return RawRecord(
                RecordKind.EXEC,
                ts,
                tid,
                pid,
                "execveat" if h[12] == "2" else "execve",
                ppid=int(h[4]),
                uid=int(h[5]),
                gid=int(h[6]),
                loginuid=-1 if loginuid == 0xFFFFFFFF else loginuid,
                tty=_encode_dev(major, minor) if major else 0,
                start_ns=int(h[11]),
                comm=p.tail,
                exepath=filename,
                argv=argv,
                cgroup=p.parts.get(2, ""),
                truncated=frozenset(trunc),
            )
        spec = SYSCALLS.get(h[4])
        args: dict[str, int | str] = {}
        trunc = set()
        if spec is not None:
            ints = [a for a in spec.args if not a.string]
            strs = [a for a in spec.args if a.string]
            for a, raw in zip(ints, h[7:], strict=False):
                args[a.name] = int(raw)
            for n, a in enumerate(strs):
                value = p.parts.get(n, "")
                args[a.name] = value
                if len(value.encode("utf-8", "surrogateescape")) >= STRLEN - 1:
                    trunc.add(a.name)
        return RawRecord(
            RecordKind.SYSCALL, ts, tid, pid, h[4], res=int(h[5]), args=args, truncated=frozenset(trunc)
        )


def _encode_dev(major: int, minor: int) -> int:
    """The kernel's ``new_encode_dev``: what /proc/PID/stat's tty_nr and Falco's proc.tty show."""
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


# --------------------------------------------------------------------------- the process


class BpftraceError(RuntimeError):
    """bpftrace failed to start or compile the program (its stderr is in the message)."""


class BpftraceBackend(CaptureBackend):
    """Run a generated program under ``bpftrace -f json`` and yield its records."""

    def __init__(self, program: str, *, bpftrace: str | None = None, attach_timeout: float = 30.0) -> None:
        self.program = program
        self.binary = bpftrace or shutil.which("bpftrace") or "bpftrace"
        self.attach_timeout = attach_timeout
        self.stats = CaptureStats()
        self.probes = 0
        self._assembler = RecordAssembler(self.stats)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: list[str] = []
        self._stopping = threading.Event()

    def start(self) -> None:
        """Spawn bpftrace and wait for its ``attached_probes`` line (about 0.6 s here)."""
        env = dict(os.environ)
        env.update(
            BPFTRACE_STRLEN=str(STRLEN),
            BPFTRACE_PERF_RB_PAGES=env.get("BPFTRACE_PERF_RB_PAGES", "1024"),
            BPFTRACE_MAP_KEYS_MAX=env.get("BPFTRACE_MAP_KEYS_MAX", "16384"),
        )
        self._proc = subprocess.Popen(
            [self.binary, "-f", "json", "-e", self.program],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # Ctrl-C goes to the sensor, which stops bpftrace in order
        )
        threading.Thread(target=self._drain_stderr, name="bpftrace-stderr", daemon=True).start()
        assert self._proc.stdout is not None
        deadline = time.monotonic() + self.attach_timeout
        sel = selectors.DefaultSelector()
        sel.register(self._proc.stdout, selectors.EVENT_READ)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stop()
                    raise BpftraceError(f"bpftrace did not attach within {self.attach_timeout:.0f} s")
                if not sel.select(timeout=min(left, 0.5)):
                    if self._proc.poll() is not None:
                        break
                    continue
                line = self._proc.stdout.readline()
                if not line:
                    break
                parsed = parse_json_line(line)
                if parsed is not None and parsed[0] == "attached_probes" and isinstance(parsed[1], dict):
                    self.probes = int(parsed[1].get("probes", 0))
                    return
        finally:
            sel.close()
        self._proc.wait(timeout=5)
        time.sleep(0.05)  # let the stderr reader collect the compiler's message
        raise BpftraceError(self.error_text() or f"bpftrace exited with status {self._proc.returncode}")

    def _drain_stderr(self) -> None:
        proc = self._proc
        if proc is None or proc.stderr is None:
            return
        for raw in proc.stderr:
            text = raw.decode("utf-8", "replace").rstrip()
            if "RLIMIT_MEMLOCK" in text:
                continue  # this class of machine cannot raise it; bpftrace works anyway
            if len(self._stderr) < 200:
                self._stderr.append(text)

    def error_text(self) -> str:
        return "\n".join(self._stderr[-20:])

    def records(self) -> Iterator[RawRecord]:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        feed = self._assembler.feed
        stats = self.stats
        for line in proc.stdout:
            if not line.strip():
                continue
            stats.lines += 1
            parsed = parse_json_line(line)
            if parsed is None:
                stats.malformed += 1
                continue
            kind, data = parsed
            if kind == "printf" and isinstance(data, str):
                record = feed(data)
                if record is not None:
                    stats.records += 1
                    yield record
            elif kind == "lost_events" and isinstance(data, dict):
                stats.lost += int(data.get("events", 0))

    def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # bpftrace detaches its probes on SIGINT
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            # detaching many tracepoints can take tens of seconds in the kernel (D state): do not
            # fail the sensor's exit on it, the kernel finishes the detach on its own
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()
