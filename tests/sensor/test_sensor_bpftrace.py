"""The bpftrace front end without a kernel: program generation and the output decoder."""

from __future__ import annotations

import json
import os

from yamori.sensor.bpftrace import (
    SEP,
    STRLEN,
    RecordAssembler,
    generate_program,
    parse_json_line,
    unescape_buf,
)
from yamori.sensor.interface import RecordKind


def _line(*fields: object) -> str:
    return SEP.join(str(f) for f in fields) + "\n"


def _json(data: str) -> bytes:
    """What bpftrace writes: JSON whose string may hold raw (non-UTF-8) bytes."""
    return json.dumps({"type": "printf", "data": data}, ensure_ascii=False).encode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------- generation


def test_program_attaches_only_what_rules_need() -> None:
    program, attached, skipped = generate_program(
        ["openat", "execve", "symlinkat", "no_such_call"],
        4242,
        available={"openat", "symlinkat", "chdir", "fchdir"},
    )
    assert attached == ["chdir", "fchdir", "openat", "symlinkat"]
    assert skipped == ["no_such_call"]
    assert (
        "tracepoint:syscalls:sys_enter_openat /pid != 4242 && curtask->real_parent->tgid != 4242/" in program
    )
    assert "tracepoint:syscalls:sys_exit_symlinkat" in program
    assert "sys_enter_unlinkat" not in program and "sys_enter_connect" not in program
    # lifecycle probes are always there
    for probe in ("sched_process_exec", "sched_process_fork", "sched_process_exit", "sys_enter_execveat"):
        assert probe in program
    # opens that failed are filtered in the kernel; per-thread stashes are cleared at the end
    assert "if (args->ret >= 0)" in program
    assert "END {" in program and "clear(@a_openat);" in program and "clear(@a_symlinkat);" in program
    # one tuple per thread holds a syscall's arguments from enter to exit
    assert "@a_openat[tid] = (nsecs, (int64)args->dfd, (int64)args->flags, (int64)args->mode," in program


def test_program_failed_opens_and_missing_tracepoints() -> None:
    program, attached, skipped = generate_program(
        ["openat", "init_module"], 1, available=set(), emit_failed_opens=True
    )
    assert attached == [] and sorted(skipped) == ["chdir", "fchdir", "init_module", "openat"]
    program, _, _ = generate_program(["openat"], 1, available=None, emit_failed_opens=True)
    assert "if (args->ret >= 0)" not in program


# --------------------------------------------------------------------------- decoding


def test_syscall_record_with_string_parts_interleaved() -> None:
    asm = RecordAssembler()
    # two events of two threads, their lines interleaved as per-CPU buffers deliver them
    assert asm.feed(_line("S", 100, 7, 7, "symlinkat", 0, 2, 1, 4294967196, "/etc/shadow")) is None
    assert asm.feed(_line("S", 300, 9, 9, "rename", 0, 2, 0, "/a")) is None
    # a single-string event is one line
    rec = asm.feed(_line("S", 200, 8, 8, "openat", 3, 1, 3, -100, 0o2000000, 0, "/etc/shadow"))
    assert rec is not None and rec.evt_type == "openat" and rec.res == 3
    assert rec.args == {"dirfd": -100, "name": "/etc/shadow", "flags": 0o2000000, "mode": 0}
    rec = asm.feed(_line("P", 300, 9, 1, "/b"))
    assert rec is not None and rec.args == {"oldpath": "/a", "newpath": "/b"}
    rec = asm.feed(_line("P", 100, 7, 1, "/tmp/link"))
    assert rec is not None and rec.kind == RecordKind.SYSCALL
    assert rec.args == {"linkdirfd": 4294967196, "target": "/etc/shadow", "linkpath": "/tmp/link"}
    assert asm.stats.malformed == 0 and asm.stats.incomplete == 0


def test_paths_with_any_bytes_and_the_separator() -> None:
    asm = RecordAssembler()
    weird = "/tmp/a" + SEP + "b\n\x01" + os.fsdecode(b"\xff\xfe") + "é"
    parsed = parse_json_line(_json(_line("S", 1, 5, 5, "openat", 4, 1, 3, -100, 0, 0, weird)))
    assert parsed is not None and parsed[0] == "printf"
    assert isinstance(parsed[1], str)
    rec = asm.feed(parsed[1])
    assert rec is not None
    assert rec.args["name"] == weird
    assert os.fsencode(str(rec.args["name"])) == b"/tmp/a\x1fb\n\x01\xff\xfe\xc3\xa9"


def test_truncated_strings_are_flagged() -> None:
    asm = RecordAssembler()
    rec = asm.feed(_line("S", 1, 5, 5, "unlink", 0, 1, 0, "/" + "x" * (STRLEN - 2)))
    assert rec is not None and rec.truncated == frozenset({"path"})


def test_exec_record() -> None:
    asm = RecordAssembler()
    header = _line("X", 50, 9, 9, 3, 0, 0, 4294967295, 136, 2, 9, 40, 2, 3, "sh")
    assert asm.feed(header) is None
    assert asm.feed(_line("P", 50, 9, 2, "libpod-" + "ab" * 32)) is None
    assert asm.feed(_line("P", 50, 9, 0, "/usr/bin/sh")) is None
    rec = asm.feed(_line("P", 50, 9, 1, "sh\\x00-c\\x00echo h\\xc3\\xa9\\x01\\x00"))
    assert rec is not None and rec.kind == RecordKind.EXEC
    assert rec.evt_type == "execveat"  # @ex marker 2
    assert rec.argv == ["sh", "-c", "echo hé\x01"]
    assert (rec.ppid, rec.uid, rec.loginuid, rec.comm, rec.exepath) == (3, 0, -1, "sh", "/usr/bin/sh")
    assert rec.tty == (136 << 8) | 2  # /dev/pts/2 as /proc/PID/stat's tty_nr
    assert rec.cgroup == "libpod-" + "ab" * 32


def test_comm_with_separator_survives() -> None:
    asm = RecordAssembler()
    asm.feed(_line("X", 1, 2, 2, 1, 0, 0, 0, 0, 0, 2, 1, 1, 3, "a" + SEP + "b"))
    asm.feed(_line("P", 1, 2, 0, "/x"))
    asm.feed(_line("P", 1, 2, 1, "x\\x00"))
    rec = asm.feed(_line("P", 1, 2, 2, ""))
    assert rec is not None and rec.comm == "a" + SEP + "b" and rec.evt_type == "execve"


def test_fork_exit_lost_parts_and_garbage() -> None:
    asm = RecordAssembler(limit=2)
    rec = asm.feed(_line("F", 1, 10, 10, 11))
    assert rec is not None and rec.kind == RecordKind.FORK and rec.child_tid == 11
    rec = asm.feed(_line("Q", 2, 11, 10))
    assert rec is not None and rec.kind == RecordKind.EXIT and (rec.tid, rec.pid) == (11, 10)
    # a part without its header, headers whose parts never come (bounded), garbage
    assert asm.feed(_line("P", 99, 1, 0, "/x")) is None
    for n in range(4):
        asm.feed(_line("S", 1000 + n, 1, 1, "rename", 0, 2, 0, "/old"))
    assert asm.feed("Z\x1fwhat") is None
    assert asm.feed(_line("S", "notanumber", 1, 1, "x", 0, 0, 0)) is None
    assert asm.feed(_line("S", 1, 1, 1, "openat", 0, 1, 3, 1)) is None  # too few fields
    assert asm.stats.incomplete == 3 and asm.stats.malformed == 3


def test_failed_exec_has_no_parts() -> None:
    rec = RecordAssembler().feed(_line("S", 5, 3, 3, "execve", -2, 0, 0))
    assert rec is not None and rec.evt_type == "execve" and rec.res == -2


def test_json_lines() -> None:
    assert parse_json_line(b'{"type": "attached_probes", "data": {"probes": 7}}') == (
        "attached_probes",
        {"probes": 7},
    )
    assert parse_json_line(b"not json") is None
    assert parse_json_line(b"[1, 2]") is None
    assert unescape_buf("a\\x00b\\xffc") == b"a\x00b\xffc"
