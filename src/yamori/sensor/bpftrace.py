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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from yamori.sensor.fdtable import decode_socket
from yamori.sensor.interface import CaptureBackend, CaptureStats, RawRecord, RecordKind
from yamori.sensor.prefilter import (
    COUNTER_MAPS,
    FILTER_MAPS,
    OPEN_TYPES,
    PathFilter,
    StashView,
    open_decision_blocks,
)

__all__ = [
    "LIFECYCLE_TYPES",
    "SOCK_INTS",
    "STRLEN",
    "SYSCALLS",
    "BpftraceBackend",
    "BpftraceError",
    "RecordAssembler",
    "SyscallSpec",
    "available_syscalls",
    "fd_feeders",
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
    # socket calls (``_socket_probes``): the tracepoint fields of the user sockaddr and its
    # length (``*field``: a pointer to the length, read at exit), and which fd's kernel socket
    # to read at exit (``fd``: the argument, ``ret``: the result, as accept's new fd)
    sockaddr: str = ""
    addrlen: str = ""
    sock_fd: str = ""


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
    # dup*: the kernel socket of the old fd is read too (fd.type of a redirected stdio must not
    # depend on a /proc read made after the fd number was reused)
    SyscallSpec("dup", (_i("fd", "fildes"),), sock_fd="fd"),
    SyscallSpec("dup2", (_i("oldfd", "oldfd"), _i("newfd", "newfd")), sock_fd="fd"),
    SyscallSpec("dup3", (_i("oldfd", "oldfd"), _i("newfd", "newfd"), _i("flags", "flags")), sock_fd="fd"),
    SyscallSpec("socket", (_i("domain", "family"), _i("type", "type"), _i("proto", "protocol")), False, "fd"),
    SyscallSpec("connect", (_i("fd", "fd"),), sockaddr="uservaddr", addrlen="addrlen", sock_fd="fd"),
    SyscallSpec("accept", (_i("fd", "fd"),), False, "fd", "upeer_sockaddr", "*upeer_addrlen", sock_fd="ret"),
    SyscallSpec(
        "accept4",
        (_i("fd", "fd"), _i("flags", "flags")),
        False,
        "fd",
        "upeer_sockaddr",
        "*upeer_addrlen",
        sock_fd="ret",
    ),
    SyscallSpec("bind", (_i("fd", "fd"),), sockaddr="umyaddr", addrlen="addrlen", sock_fd="fd"),
    SyscallSpec("listen", (_i("fd", "fd"), _i("backlog", "backlog"))),
    SyscallSpec("mount", (_s("dev", "dev_name"), _s("dir", "dir_name"), _i("flags", "flags"))),
    SyscallSpec("umount2", (_s("name", "name"), _i("flags", "flags"))),
    SyscallSpec("ioctl", (_i("fd", "fd"), _i("request", "cmd"))),
    SyscallSpec("bpf", (_i("cmd", "cmd"),)),
    # absent where the kernel has no module support (CONFIG_MODULES=n): skipped, reported
    SyscallSpec("init_module", (_i("length", "len"), _s("uargs", "uargs"))),
    SyscallSpec("finit_module", (_i("fd", "fd"), _s("uargs", "uargs"), _i("flags", "flags"))),
    SyscallSpec("unshare", (_i("flags", "unshare_flags"),)),
    SyscallSpec("setns", (_i("fd", "fd"), _i("nstype", "flags"))),
    SyscallSpec("kill", (_i("pid", "pid"), _i("sig", "sig"))),
    SyscallSpec("userfaultfd", (_i("flags", "flags"),)),
    SyscallSpec("prctl", (_i("option", "option"),)),
    SyscallSpec("sendto", (_i("fd", "fd"),), sockaddr="addr", addrlen="addr_len", sock_fd="fd"),
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


# Event types whose fd fields (fd.type, fd.sip...) need the fd table to know sockets; when a rule
# wants one, the calls that create and name sockets are attached too (rare next to opens).
_FD_USERS = frozenset({"dup", "dup2", "dup3", "connect", "sendto", "sendmsg", "recvfrom", "listen"})
_SOCKET_FEEDERS = frozenset({"socket", "connect", "accept", "accept4", "bind"})


def fd_feeders(evttypes: Iterable[str]) -> set[str]:
    """The socket calls to attach so the fd table can answer the wanted types' fd fields."""
    return set(_SOCKET_FEEDERS) if _FD_USERS.intersection(evttypes) else set()


def stash_map(spec: SyscallSpec) -> str:
    """The per-thread map holding one syscall's entry arguments between enter and exit."""
    return f"@a_{spec.name}"


def _syscall_probes(
    spec: SyscallSpec,
    self_pid: int,
    emit_failed: bool,
    decision: Callable[[StashView], str] | None = None,
) -> str:
    """Enter probe stashing the arguments, exit probe printing them with the result.

    The arguments go into one tuple per thread (``stash_map``): one map update at entry and one
    delete at exit instead of one per argument — measured, the per-argument maps were about 40 %
    of the sensor's in-kernel cost on an open loop. ``decision`` (opens under the path prefilter,
    see ``sensor/prefilter.py``): given a ``StashView``, the exit blocks that set ``@pf[tid]``
    for the opens to send (and clean up after the others); the printing block then runs only
    for those."""
    tp = tracepoint_name(spec.name)
    ints = [a for a in spec.args if not a.string]
    strs = [a for a in spec.args if a.string]
    key = stash_map(spec)
    fields = (
        ["nsecs"] + [f"(int64)args->{a.field}" for a in ints] + [f"(uint64)args->{a.field}" for a in strs]
    )
    if len(fields) == 1:
        fields.append("(int64)0")  # bpftrace has no 1-tuples
    stash = [f"{key}[tid] = ({', '.join(fields)});"]
    # fields are read from the map, not copied into a local tuple: the printing block's string
    # and printf buffer leave no room on the 512-byte BPF stack for a copy
    view = StashView(
        guard=f"{key}[tid].0",
        load=f"$id = {key}[tid].0;",
        cleanup=f"delete({key}[tid]);",
        ints={a.name: f"{key}[tid].{1 + n}" for n, a in enumerate(ints)},
        strings=[f"{key}[tid].{1 + len(ints) + n}" for n in range(len(strs))],
        failed="args->ret < 0" if spec.success_only and not emit_failed else "0",
        tracepoint=tp,
    )
    # the first string rides on the header line (most events have one: a single line each)
    fmt = SEP.join(
        ["S", "%llu", "%d", "%d", spec.name, "%lld", str(len(strs)), str(len(ints))]
        + ["%lld"] * len(ints)
        + (["%s"] if strs else [])
    )
    values = ["$id", "tid", "pid", "args->ret", *view.ints.values()]
    if strs:
        values.append(f"str(uptr({view.strings[0]}))")
    emit = [f'printf("{_c(fmt)}\\n", {", ".join(values)});']
    for n in range(1, len(strs)):
        line = SEP.join(["P", "%llu", "%d", str(n), "%s"])
        emit.append(f'printf("{_c(line)}\\n", $id, tid, str(uptr({view.strings[n]})));')
    body = "\n    ".join(emit)
    if spec.success_only and not emit_failed:
        body = "if (args->ret >= 0) {\n    " + body + "\n  }"
    enter = f"tracepoint:syscalls:sys_enter_{tp} /{_filter(self_pid)}/ {{\n  {' '.join(stash)}\n}}\n"
    if decision is None:
        return (
            f"{enter}tracepoint:syscalls:sys_exit_{tp} /{view.guard}/ {{\n  {view.load}\n  {body}\n"
            f"  {view.cleanup}\n}}\n"
        )
    return (
        f"{enter}{decision(view)}"
        f"tracepoint:syscalls:sys_exit_{tp} /@pf[tid]/ {{\n  {view.load}\n  {body}\n"
        f"  {view.cleanup} delete(@pf[tid]);\n}}\n"
    )


def _open_decision(
    spec: SyscallSpec, flt: PathFilter, host_mntns: int | None, coalesce: bool
) -> Callable[[StashView], str]:
    """The path prefilter's decision blocks for one open syscall (where its flags are)."""
    fixed = 1 if spec.name == "creat" else 2  # openat2: flags unknown here, both modes

    def blocks(view: StashView) -> str:
        return open_decision_blocks(
            flt,
            view=view,
            flags_var=view.ints.get("flags"),
            fixed_mode=fixed,
            host_mntns=host_mntns,
            coalesce_containers=coalesce,
        )

    return blocks


def _filter_housekeeping(per_thread: list[str]) -> str:
    """Forget a thread's last open at its exit; report the kernel counters every 2 s."""
    forget = " ".join(f"delete({m}[tid]);" for m in per_thread)
    return f"tracepoint:sched:sched_process_exit {{ {forget} }}\ninterval:s:2 {{ {_counter_report()} }}\n"


def _counter_report() -> str:
    """Print the prefilter's counters (created first, so a counter never hit prints 0)."""
    return " ".join(f"print({m});" for m in COUNTER_MAPS)


def _c(text: str) -> str:
    """A printf format with the separator written as a C escape."""
    return text.replace(SEP, "\\x1f")


SOCK_INTS = (
    "sk_family", "sk_type", "sk_proto", "sk_lport", "sk_rport", "sk_l4", "sk_r4",
    "sk_l6_0", "sk_l6_1", "sk_l6_2", "sk_l6_3", "sk_r6_0", "sk_r6_1", "sk_r6_2", "sk_r6_3", "sk_ino",
    "sa_family", "sa_port", "sa_a0", "sa_a1", "sa_a2", "sa_a3",
)  # fmt: skip
"""The ints a socket call's header carries after its entry ints (decoded by
``fdtable.decode_socket``): the kernel socket of the fd (family, type, protocol, local/remote
port as network-order u16 read little-endian, IPv4 local/remote address, IPv6 local/remote as
four u32 words each, inode), then the user sockaddr (family, port, four address words). String
line 1 carries the sockaddr's AF_UNIX path."""

_SK = "$sk->__sk_common"


def _socket_probes(spec: SyscallSpec, self_pid: int) -> tuple[str, set[str]]:
    """Probes for connect/accept/bind/sendto: the entry ints, then what the kernel socket and the
    user sockaddr say, read at exit (user pages are present then; the socket has its local
    address once connect/accept/bind returned). Wire format as ``_syscall_probes``: a header of
    ints (its string 0 is empty) and string line 1 with the AF_UNIX path. The path is printed by
    a second probe on the same exit tracepoint (run after the first, in attach order, as the
    exec probes are): both in one program exceed the 512-byte BPF stack with 200-byte strings.

    The kernel socket is reached through ``curtask->files->fdt->fd[N]`` (tracepoints give no
    socket pointer) and read only when the call succeeded (or connect is in progress) and the
    file is a socket (S_IFSOCK); otherwise ``$sk`` stays NULL and its reads yield zeros.
    Returns (program text, maps used)."""
    tp = tracepoint_name(spec.name)
    ints = [a for a in spec.args if not a.string]
    stash = ["@ts[tid] = nsecs;"]
    stash += [f"@i{n}[tid] = (int64)args->{a.field};" for n, a in enumerate(ints)]
    length = spec.addrlen.lstrip("*")
    if spec.sockaddr:
        stash.append(f"@sa[tid] = (uint64)args->{spec.sockaddr};")
        stash.append(f"@sl[tid] = {'(uint64)' if spec.addrlen.startswith('*') else '(int64)'}args->{length};")
    fd = "$ret" if spec.sock_fd == "ret" else "@i0[tid]"
    if not spec.sockaddr:
        read_len = "$n = (int64)0;"
    elif spec.addrlen.startswith("*"):
        read_len = "$n = (int64)0;\n  if (@sl[tid] != 0) { $n = (int64)*(int32*)uptr(@sl[tid]); }"
    else:
        read_len = "$n = (int64)@sl[tid];"
    # args->ret is read once: reusing the ctx pointer across branches fails the verifier
    body = f"""$ret = (int64)args->ret;
  $sa = {"@sa[tid]" if spec.sockaddr else "(uint64)0"};
  {read_len}
  $fd = (int64){fd};
  $sk = (struct sock *)0;
  $ino = (int64)0;
  if (($ret >= 0 || $ret == -115) && $fd >= 0) {{
    $fdt = curtask->files->fdt;
    if ($fd < (int64)$fdt->max_fds) {{
      $file = *($fdt->fd + $fd);
      if ($file != 0) {{ $ino = (int64)$file->f_inode->i_ino; }}
      if ($file != 0 && ($file->f_inode->i_mode & 0xf000) == 0xc000) {{
        $sk = ((struct socket *)$file->private_data)->sk;
      }}
    }}
  }}
  $fam = (int64)0;
  if ($sa != 0 && $n >= 2) {{ $fam = (int64)*(uint16*)uptr($sa); }}
  $aoff = (uint64)($fam == 10 ? 8 : 4);"""
    v6 = [f"{_SK}.{f}.in6_u.u6_addr32[{i}]" for f in ("skc_v6_rcv_saddr", "skc_v6_daddr") for i in range(4)]
    kernel = [
        f"{_SK}.skc_family",
        "$sk->sk_type",
        "$sk->sk_protocol",
        "((struct inet_sock *)$sk)->inet_sport",
        f"{_SK}.skc_dport",
        f"{_SK}.skc_rcv_saddr",
        f"{_SK}.skc_daddr",
        *v6,
    ]
    values = ["@ts[tid]", "tid", "pid", "$ret"] + [f"@i{n}[tid]" for n in range(len(ints))]
    values += [f"(int64){v}" for v in kernel] + ["$ino", "$fam"]
    values += ["(int64)*(uint16*)uptr($sa + 2)"]
    values += [f"(int64)*(uint32*)uptr($sa + $aoff{f' + {4 * i}' if i else ''})" for i in range(4)]
    nints = len(ints) + len(SOCK_INTS)
    nstr = "2" if spec.sockaddr else "1"
    fmt = SEP.join(["S", "%llu", "%d", "%d", spec.name, "%lld", nstr, str(nints)] + ["%lld"] * nints + [""])
    path = SEP.join(["P", "%llu", "%d", "1", "%s"])
    cleanup = ["delete(@ts[tid]);", "delete(@sa[tid]);", "delete(@sl[tid]);"][: 3 if spec.sockaddr else 1]
    cleanup += [f"delete(@i{n}[tid]);" for n in range(len(ints))]
    if not spec.sockaddr:  # dup*: no sockaddr, no path line
        text = (
            f"tracepoint:syscalls:sys_enter_{tp} /{_filter(self_pid)}/ {{\n  {' '.join(stash)}\n}}\n"
            f"tracepoint:syscalls:sys_exit_{tp} /@ts[tid]/ {{\n  {body}\n"
            f'  printf("{_c(fmt)}\\n", {", ".join(values)});\n'
            f"  {' '.join(cleanup)}\n}}\n"
        )
        return text, {"@ts", *(f"@i{n}" for n in range(len(ints)))}
    text = (
        f"tracepoint:syscalls:sys_enter_{tp} /{_filter(self_pid)}/ {{\n  {' '.join(stash)}\n}}\n"
        f"tracepoint:syscalls:sys_exit_{tp} /@ts[tid]/ {{\n  {body}\n"
        f'  printf("{_c(fmt)}\\n", {", ".join(values)});\n}}\n'
        f"tracepoint:syscalls:sys_exit_{tp} /@ts[tid]/ {{\n"
        f"  $sa = @sa[tid];\n  {read_len}\n"
        "  $abs = (uint64)0; $plen = (int64)0;\n"
        "  if ($sa != 0 && $n > 2 && *(uint16*)uptr($sa) == 1) {\n"
        "    $abs = *(uint8*)uptr($sa + 2) == 0 ? 1 : 0;\n"
        "    $plen = $n - 2 - (int64)$abs;\n"
        "    $plen = $plen > 107 ? 107 : $plen;\n"
        "  }\n"
        f'  printf("{_c(path)}\\n", @ts[tid], tid, str(uptr($sa + 2 + $abs), $plen));\n'
        f"  {' '.join(cleanup)}\n}}\n"
    )
    return text, {"@ts", "@sa", "@sl", *(f"@i{n}" for n in range(len(ints)))}


# sched_process_exec has two probes (one printf holding everything exceeds the BPF stack) that
# must print the same record id: the first stores it per thread, the second takes it back.
_XID = """\
  $id = @xid[tid];
  if ($id == 0) { $id = nsecs; @xid[tid] = $id; } else { delete(@xid[tid]); }"""


def _lifecycle_probes(self_pid: int) -> str:
    flt = _filter(self_pid)
    # X|id|tid|pid|ppid|uid|gid|loginuid|tty major|tty minor|old pid|start|@ex|parts|comm (last);
    # parts: 0 filename, 1 argv, 2 cgroup, 3 numbers (below), 4 the exe's name when it is a memfd
    header = SEP.join(["X", "%llu", *["%d"] * 3, *["%u"] * 3, *["%d"] * 3, "%llu", "%d", "%d", "%s"])
    # cap eff|cap prm|exe inode|exe ctime ns|exe mtime ns|session id (on a line of its own: one
    # printf holding them all with the header exceeds the 512-byte BPF stack)
    numbers = _c(SEP.join(["P", "%llu", "%d", "3", "%llu", "%llu", "%llu", "%lld", "%lld", "%d"]))
    failed = {t: _c(SEP.join(["S", "%llu", "%d", "%d", t, "%lld", "0", "0"])) for t in ("execve", "execveat")}
    part = [_c(SEP.join(["P", "%llu", "%d", str(n), "%r" if n == 1 else "%s"])) for n in range(5)]
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
{_XID}
  $t = curtask;
  $mm = $t->mm;
  $n = $mm->arg_end - $mm->arg_start;
  $kn = (struct kernfs_node *)$t->cgroups->dfl_cgrp->kn;
  $tty = (struct tty_struct *)$t->signal->tty;
  $f = (struct file *)$mm->exe_file;
  $d = (struct dentry *)$f->f_path.dentry;
  printf("{_c(header)}\\n",
    $id, tid, pid, $t->real_parent->tgid, $t->cred->uid.val, $t->cred->gid.val, $t->loginuid.val,
    $tty != 0 ? $tty->driver->major : 0, $tty != 0 ? $tty->driver->minor_start + $tty->index : 0,
    args->old_pid, $t->start_time, @ex[args->old_pid], $d == $d->d_parent ? 5 : 4, comm);
  printf("{part[0]}\\n", $id, tid, str(args->filename));
  printf("{part[1]}\\n", $id, tid, {argv});
  printf("{part[2]}\\n", $id, tid, str($kn->name));
  delete(@ex[args->old_pid]);
}}
tracepoint:sched:sched_process_exec /{flt}/ {{
{_XID}
  $t = curtask;
  $f = (struct file *)$t->mm->exe_file;
  $d = (struct dentry *)$f->f_path.dentry;
  $ino = (struct inode *)$f->f_inode;
  printf("{numbers}\\n", $id, tid,
    $t->cred->cap_effective.val, $t->cred->cap_permitted.val, $ino->i_ino,
    $ino->i_ctime_sec * 1000000000 + (int64)($ino->i_ctime_nsec & 0x3fffffff),
    $ino->i_mtime_sec * 1000000000 + (int64)($ino->i_mtime_nsec & 0x3fffffff),
    *(int32 *)((uint64)$t->signal->pids[3] + sizeof(struct pid)));
  if ($d == $d->d_parent) {{ printf("{part[4]}\\n", $id, tid, str($d->d_name.name)); }}
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
    open_filter: PathFilter | None = None,
    host_mntns: int | None = None,
    coalesce_containers: bool = True,
) -> tuple[str, list[str], list[str]]:
    """The bpftrace program for these Falco event types.

    Returns (program, attached syscalls, skipped event types). An event type is skipped when
    the sensor has no capture spec for it or the kernel lacks its tracepoint; the lifecycle
    types are always produced by the fixed probes. ``chdir`` is always attached: the process
    table follows working directories to resolve relative paths to absolute ``fd.name``.

    ``open_filter`` (from ``prefilter.open_path_filter``): opens no rule can match are dropped in
    the kernel for host processes and coalesced for container processes (in a container other
    than the one of mount namespace ``host_mntns``) when ``coalesce_containers``.
    """
    wanted = set(evttypes) | {"chdir", "fchdir"} | fd_feeders(evttypes)
    attached: list[str] = []
    skipped: list[str] = []
    parts = [_lifecycle_probes(self_pid)]
    maps = {"@ex", "@xid"}
    for name in sorted(wanted):
        if name in LIFECYCLE_TYPES:
            continue
        spec = SYSCALLS.get(name)
        if spec is None or (available is not None and tracepoint_name(name) not in available):
            skipped.append(name)
            continue
        attached.append(name)
        if spec.sock_fd:  # connect/accept/bind/sendto/dup: socket addresses read at exit
            text, used = _socket_probes(spec, self_pid)
            parts.append(text)
            maps |= used
            continue
        decision = None
        if open_filter is not None and open_filter.atoms is not None and name in OPEN_TYPES:
            coalescing = coalesce_containers and host_mntns is not None
            decision = _open_decision(spec, open_filter, host_mntns, coalescing)
            maps.update(FILTER_MAPS if coalescing else ("@pf",))
        parts.append(_syscall_probes(spec, self_pid, emit_failed_opens, decision))
        maps.add(stash_map(spec))
    end = ""
    if "@pf" in maps:
        # every map the END block names must exist in the program: create the counters at BEGIN
        parts.insert(0, "BEGIN { " + " ".join(f"{m} = count(); clear({m});" for m in COUNTER_MAPS) + " }\n")
        parts.append(_filter_housekeeping(sorted(maps & set(FILTER_MAPS))))
        end = _counter_report() + "\n  "
        maps.update(COUNTER_MAPS)
    # bpftrace prints every non-empty map when it exits: clear the per-thread stashes first.
    parts.append("END {\n  " + end + " ".join(f"clear({m});" for m in sorted(maps)) + "\n}\n")
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
        self._early: dict[tuple[int, int], dict[int, str]] = {}  # exec parts before their header

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
                    if int(sidx) >= 3:  # an exec's second probe ran before the header's probe
                        self._early.setdefault(key, {})[int(sidx)] = value
                        if len(self._early) > 256:
                            self._early.pop(next(iter(self._early)))
                        return None
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
            head, tail, expected = fields[:14], fields[14], int(fields[13])
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
        key = (int(head[1]), int(head[2]))
        pending = _Pending(head, tail, self._early.pop(key, {}) if self._early else {}, expected)
        if len(pending.parts) >= expected:
            return self._build(pending)
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
            exe_name = p.parts.get(4)  # only sent when the exe's dentry is its fs root (memfd)
            memfd = exe_name is not None and exe_name.startswith("memfd:")
            nums = [int(n) for n in p.parts[3].split(SEP)] if 3 in p.parts else []
            if len(nums) != 6:
                nums = [-1, -1, 0, 0, 0, 0]  # an older producer (or a test) without them
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
                # Falco's BPF drivers report a memfd's exepath as its name ("memfd:NAME")
                exepath=exe_name if memfd and exe_name else filename,
                argv=argv,
                cgroup=p.parts.get(2, ""),
                truncated=frozenset(trunc),
                cap_effective=nums[0] if nums[0] >= 0 else None,
                cap_permitted=nums[1] if nums[1] >= 0 else None,
                exe_ino=nums[2] or None,
                exe_ctime_ns=nums[3] or None,
                exe_mtime_ns=nums[4] or None,
                sid=nums[5] or None,
                exe_from_memfd=memfd,
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
            if spec.sock_fd:
                sock = decode_socket([int(v) for v in h[7 + len(ints) :]], p.parts.get(1, ""))
                return RawRecord(RecordKind.SYSCALL, ts, tid, pid, h[4], res=int(h[5]), args=args, sock=sock)
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
                    self._wait_attached(deadline)
                    return
        finally:
            sel.close()
        self._proc.wait(timeout=5)
        time.sleep(0.05)  # let the stderr reader collect the compiler's message
        raise BpftraceError(self.error_text() or f"bpftrace exited with status {self._proc.returncode}")

    def _wait_attached(self, deadline: float) -> None:
        """Wait until bpftrace holds a perf event per probe and stops opening more.

        bpftrace announces ``attached_probes`` as it *starts* attaching; with ~80 tracepoints on a
        loaded machine the last go live seconds later, and events before that are missed. Every
        attached probe is a ``perf_event`` file descriptor of the bpftrace process: ready when
        there are at least as many as probes and the count held still for 0.3 s (or at the
        deadline; a ``/proc`` that cannot be read skips the wait)."""
        proc = self._proc
        if proc is None:
            return
        fd_dir = Path(f"/proc/{proc.pid}/fd")
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                count = sum(1 for fd in fd_dir.iterdir() if os.readlink(fd) == "anon_inode:[perf_event]")
            except OSError:
                return
            now = time.monotonic()
            if count != last:
                last, since = count, now
            elif count >= self.probes and now - since >= 0.3:
                return
            time.sleep(0.05)

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
            elif kind == "map" and isinstance(data, dict):
                # the path prefilter's counters: cumulative, printed every 2 s and at END (a
                # cleared map may print as 0 as bpftrace exits: keep the highest value seen)
                for name, value in data.items():
                    if isinstance(value, int) and name in COUNTER_MAPS:
                        attr = "kernel_" + name[2:]
                        setattr(stats, attr, max(getattr(stats, attr), value))

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
