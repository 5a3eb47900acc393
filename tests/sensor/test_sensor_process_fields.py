"""Process fields from the exec record's kernel data: capabilities, session leader, executable
inode times, memfd executables, environments; and Falco's any-ancestor `proc.aname`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yamori.detect.compiler import CompiledRules, compile_ruleset
from yamori.detect.engine import Engine
from yamori.detect.fields.syscall import UNFILLED, SyscallEvent, caps_text
from yamori.detect.rules import load_rules_files
from yamori.detect.sources import field_classes
from yamori.sensor.bpftrace import SEP, RecordAssembler
from yamori.sensor.interface import ContainerInfo, ProcessInfo, RawRecord, RecordKind
from yamori.sensor.proctable import ENV_LIMIT, ProcessTable, read_environ, read_proc_entry

BOOT_WALL = 1_700_000_000_000_000_000  # wall-clock ns of monotonic 0 in these tests


def _line(*fields: object) -> str:
    return SEP.join(str(f) for f in fields) + "\n"


# --------------------------------------------------------------------------- decoding


def _exec_lines(numbers: str | None, memfd_name: str | None = None) -> list[str]:
    parts = 3 + (numbers is not None) + (memfd_name is not None)
    lines = [
        _line("X", 50, 9, 9, 3, 0, 0, 4294967295, 0, 0, 9, 40, 1, parts, "3"),
        _line("P", 50, 9, 0, "/proc/self/fd/3"),
        _line("P", 50, 9, 1, "fileless\\x00"),
        _line("P", 50, 9, 2, "libpod-" + "ab" * 32),
    ]
    if numbers is not None:
        lines.append(_line("P", 50, 9, 3, numbers))
    if memfd_name is not None:
        lines.append(_line("P", 50, 9, 4, memfd_name))
    return lines


def _feed(lines: list[str]) -> RawRecord:
    asm = RecordAssembler()
    recs = [r for r in (asm.feed(line) for line in lines) if r is not None]
    assert len(recs) == 1 and asm.stats.incomplete == 0 and asm.stats.malformed == 0
    return recs[0]


NUMBERS = SEP.join(
    str(n) for n in (0x200001, 0x3FF, 4242, 1_700_000_100_000_000_007, 1_700_000_000_000_000_000, 77)
)


def test_exec_record_carries_caps_inode_times_session() -> None:
    rec = _feed(_exec_lines(NUMBERS))
    assert rec.kind == RecordKind.EXEC
    assert (rec.cap_effective, rec.cap_permitted, rec.exe_ino, rec.sid) == (0x200001, 0x3FF, 4242, 77)
    assert (rec.exe_ctime_ns, rec.exe_mtime_ns) == (1_700_000_100_000_000_007, 1_700_000_000_000_000_000)
    assert rec.exe_from_memfd is False and rec.exepath == "/proc/self/fd/3"


def test_exec_of_a_memfd_and_parts_before_the_header() -> None:
    lines = _exec_lines(NUMBERS, "memfd:evil")
    rec = _feed(lines)
    assert rec.exe_from_memfd is True and rec.exepath == "memfd:evil"  # as Falco's BPF drivers
    # the second exec probe may run before the header's: its parts wait for the header
    rec = _feed([lines[4], lines[5], *lines[:4]])
    assert rec.exe_from_memfd is True and rec.sid == 77
    # a file at the root of another filesystem is not a memfd
    assert _feed(_exec_lines(NUMBERS, "anon_inode:x")).exe_from_memfd is False


def test_exec_record_without_numbers_leaves_them_unknown() -> None:
    rec = _feed(_exec_lines(None))
    assert rec.cap_effective is None and rec.exe_ino is None and rec.sid is None


# --------------------------------------------------------------------------- renderings


def test_capabilities_render_as_falco() -> None:
    assert caps_text(0) == "" and caps_text(None) is None
    assert caps_text(0b11) == "CAP_CHOWN CAP_DAC_OVERRIDE"
    assert caps_text(1 << 21 | 1 << 16) == "CAP_SYS_MODULE CAP_SYS_ADMIN"
    assert caps_text((1 << 41) - 1).split()[-1] == "CAP_CHECKPOINT_RESTORE"
    assert caps_text(1 << 50) == ""  # bits past the known capabilities are not named


# --------------------------------------------------------------------------- the table


def test_exec_and_fork_carry_the_new_fields() -> None:
    table = ProcessTable(proc=Path("/nonexistent"))
    table.on_fork(RawRecord(RecordKind.FORK, 1, 100, 100, "clone", child_tid=101))
    rec = _feed(_exec_lines(NUMBERS, "memfd:evil"))
    rec.pid = rec.tid = 101
    rec.ppid, rec.env = 100, ["A=1", "B=x y"]
    info = table.on_exec(rec)
    assert (info.cap_effective, info.sid, info.exe_ino, info.exe_from_memfd) == (0x200001, 77, 4242, True)
    assert info.env == ["A=1", "B=x y"] and info.exepath == "memfd:evil"
    child = table.on_fork(RawRecord(RecordKind.FORK, 2, 101, 101, "clone", child_tid=102))
    assert (child.cap_permitted, child.sid, child.exe_mtime_ns) == (0x3FF, 77, 1_700_000_000_000_000_000)
    assert child.env == info.env and child.exe_from_memfd is True


def test_proc_entry_reads_caps_session_exe_and_environ() -> None:
    info = read_proc_entry(os.getpid(), env=True)
    assert info is not None
    assert info.sid == os.getsid(0)
    st = os.stat("/proc/self/exe")
    assert (info.exe_ino, info.exe_ctime_ns, info.exe_mtime_ns) == (st.st_ino, st.st_ctime_ns, st.st_mtime_ns)
    status = Path("/proc/self/status").read_text()
    eff = next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:"))
    assert info.cap_effective == int(eff, 16) and info.exe_from_memfd is False
    assert info.env is not None and f"PATH={os.environ['PATH']}" in info.env
    assert read_proc_entry(os.getpid()) is not None and read_proc_entry(os.getpid()).env is None  # type: ignore[union-attr]


def test_environ_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "environ").write_bytes(b"A=1\0" + b"B=" + b"x" * ENV_LIMIT + b"\0")
    assert read_environ(7, tmp_path) == ["A=1"]  # the item cut at the bound is dropped
    (tmp_path / "7" / "environ").write_bytes(b"A=1\0B=2\0")
    assert read_environ(7, tmp_path) == ["A=1", "B=2"]
    assert read_environ(8, tmp_path) is None


# --------------------------------------------------------------------------- fields


class Ctx:
    """init (1) -> sshd (20, session 20) -> bash (21) -> nginx (22) -> sh (23) in one session."""

    def __init__(self) -> None:
        def p(pid: int, ppid: int, comm: str, **kw: object) -> ProcessInfo:
            return ProcessInfo(
                pid=pid, ppid=ppid, comm=comm, exe=comm, exepath=f"/usr/bin/{comm}", sid=20, **kw
            )  # type: ignore[arg-type]

        self.procs = {
            1: ProcessInfo(pid=1, ppid=0, comm="systemd", sid=1),
            20: p(20, 1, "sshd"),
            21: p(21, 20, "bash"),
            22: p(22, 21, "nginx"),
            23: p(
                23, 22, "sh", start_ns=5_000_000_000, cap_effective=1 << 21 | 1, cap_permitted=(1 << 41) - 1,
                exe_ino=99, exe_ctime_ns=BOOT_WALL + 4_000_000_000, exe_mtime_ns=BOOT_WALL + 1,
                exe_from_memfd=False, env=["HOME=/root", "HTTP_PROXY=http://proxy:3128"],
            ),
        }  # fmt: skip

    def process(self, pid: int) -> ProcessInfo | None:
        return self.procs.get(pid)

    def container(self, container_id: str) -> ContainerInfo | None:
        return None

    def user_name(self, proc: ProcessInfo, uid: int) -> str | None:
        return None

    def group_name(self, proc: ProcessInfo, gid: int) -> str | None:
        return None

    def cwd(self, proc: ProcessInfo) -> str | None:
        return proc.cwd

    def wall_ns(self, monotonic_ns: int) -> int:
        return BOOT_WALL + monotonic_ns

    def monotonic_now(self) -> int:
        return 10_000_000_000


def _event(ctx: Ctx, pid: int = 23) -> SyscallEvent:
    rec = RawRecord(RecordKind.EXEC, 6_000_000_000, pid, pid, "execve")
    return SyscallEvent(rec, ctx.procs[pid], ctx)


def test_process_fields_from_the_exec() -> None:
    ctx = Ctx()
    e = _event(ctx)
    assert e.value("thread.cap_effective") == "CAP_CHOWN CAP_SYS_ADMIN"
    assert e.value("thread.cap_permitted").startswith("CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH")
    assert e.value("proc.exe_ino") == 99 and e.value("proc.exe_ino.mtime") == BOOT_WALL + 1
    assert e.value("proc.exe_ino.ctime") == BOOT_WALL + 4_000_000_000
    assert e.value("proc.exe_ino.ctime_duration_proc_start") == 1_000_000_000  # started 1 s after
    assert e.value("proc.is_exe_from_memfd") is False
    assert e.value("proc.env") == "HOME=/root HTTP_PROXY=http://proxy:3128"
    assert e.value("proc.env", "HTTP_PROXY") == "http://proxy:3128" and e.value("proc.env", "NOPE") == ""
    for name in ("thread.cap_effective", "proc.sname", "proc.env", "proc.is_exe_from_memfd"):
        assert name not in UNFILLED
    # an executable changed after the process started: no duration (Falco: not set)
    ctx.procs[23].exe_ctime_ns = BOOT_WALL + 9_000_000_000
    assert _event(ctx).value("proc.exe_ino.ctime_duration_proc_start") is None
    # nothing known (a process seen before these fields existed): <NA>, not a wrong value
    bare = _event(ctx, 1)
    assert bare.value("thread.cap_effective") is None and bare.value("proc.env") is None
    assert bare.value("proc.exe_ino.ctime") is None and bare.value("proc.sname") == "systemd"  # sid 1


def test_session_leader_name() -> None:
    ctx = Ctx()
    assert _event(ctx).value("proc.sname") == "sshd"  # the process whose pid is the session id
    del ctx.procs[20]  # the leader exited: the eldest ancestor still in the session
    ctx.procs[21].ppid = 1
    assert _event(ctx).value("proc.sname") == "bash"


# --------------------------------------------------------------------------- proc.aname


def _compiled(tmp_path: Path, conditions: dict[str, str]) -> CompiledRules:
    text = "".join(
        f"- rule: {name}\n  desc: d\n  condition: evt.type = execve and {cond}\n"
        f"  output: o %proc.aname[1]\n  priority: WARNING\n"
        for name, cond in conditions.items()
    )
    (tmp_path / "r.yaml").write_text(text)
    compiled = compile_ruleset(load_rules_files([tmp_path / "r.yaml"]), field_classes(["syscall"]))
    assert [m.text for m in compiled.messages] == []
    return compiled


def test_aname_without_index_matches_any_ancestor(tmp_path: Path) -> None:
    rules = {
        "eq": "proc.aname = sshd",  # the grandgrandparent
        "in": "proc.aname in (nginx, httpd)",  # the parent
        "not_in": "not proc.aname in (apache2, mysqld)",
        "self_not_ancestor": "proc.aname = sh",  # the process itself is not its own ancestor
        "startswith": "proc.aname startswith ngi",
        "anyof": "proc.aname startswith anyof (xx, ssh)",
        "indexed": "proc.aname[3] = sshd",
        "indexed_miss": "proc.aname[2] = sshd",
        "apid": "proc.apid = 21",
        "aexepath": "proc.aexepath endswith bin/bash",
        "acmdline": "proc.acmdline contains systemd",
        "ne_any": "proc.aname != sshd",  # some ancestor is not sshd
    }
    engine = Engine(_compiled(tmp_path, rules), rule_matching="all")
    fired = {a.rule for a in engine.process(_event(Ctx()))}
    assert fired == set(rules) - {"self_not_ancestor", "indexed_miss"}
    # a process with no known ancestors matches none of the any-ancestor comparisons
    orphan = Ctx()
    orphan.procs[23].ppid = 999
    fired = {a.rule for a in engine.process(_event(orphan))}
    assert fired == {"not_in"}


@pytest.mark.parametrize("field", ["proc.aname", "proc.aexe", "proc.aexepath", "proc.acmdline"])
def test_indexed_ancestor_fields_are_plain_values(field: str) -> None:
    e = _event(Ctx())
    value = e.value(field, "1")
    assert isinstance(value, str) and "nginx" in value
    assert isinstance(e.value(field), list) and len(e.value(field)) >= 3  # init has no exe here
