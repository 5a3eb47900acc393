"""The `syscall` field class and Falco's stable rules over hand-made sensor records."""

from __future__ import annotations

from pathlib import Path

import pytest

from yamori.detect.compiler import CompiledRules, compile_ruleset
from yamori.detect.engine import Engine
from yamori.detect.fields.syscall import UNFILLED, SyscallEvent, SyscallFields, open_flags_text
from yamori.detect.rules import load_rules_files
from yamori.detect.sources import field_classes
from yamori.sensor.containers import (
    container_id_from_cgroup_line,
    container_id_from_cgroup_name,
    container_info_from_inspect,
)
from yamori.sensor.interface import ContainerInfo, ContainerMount, ProcessInfo, RawRecord, RecordKind
from yamori.sensor.runner import append_container_output, rule_evttypes, unfilled_fields

RULES = Path("/work/shared/corpora/falco-rules")
STABLE = RULES / "falco_rules.yaml"
CID = "a1" * 32


class Ctx:
    """A fixed world: conmon (10) -> sh (11) -> cat (12) in a container, bash (5) on the host."""

    def __init__(self) -> None:
        self.procs = {
            1: ProcessInfo(pid=1, ppid=0, comm="systemd", exe="/sbin/init"),
            5: ProcessInfo(pid=5, ppid=1, comm="bash", exe="bash", exepath="/usr/bin/bash", uid=1000),
            10: ProcessInfo(pid=10, ppid=1, comm="conmon", exe="/usr/bin/conmon", exepath="/usr/bin/conmon"),
            11: ProcessInfo(
                pid=11,
                ppid=10,
                comm="sh",
                exe="sh",
                exepath="/usr/bin/sh",
                args=["-c", "cat /etc/shadow"],
                uid=0,
                gid=0,
                tty=34816,
                container_id=CID,
                cwd="/root",
                start_ns=1_000,
            ),
            12: ProcessInfo(
                pid=12,
                ppid=11,
                comm="cat",
                exe="cat",
                exepath="/usr/bin/cat",
                args=["/etc/shadow"],
                uid=0,
                gid=0,
                loginuid=-1,
                container_id=CID,
                cwd="/root",
                start_ns=2_000,
            ),
        }

    def process(self, pid: int) -> ProcessInfo | None:
        return self.procs.get(pid)

    def container(self, container_id: str) -> ContainerInfo | None:
        return ContainerInfo(id=CID, name="web", image="docker.io/library/nginx:1.25", privileged=False)

    def user_name(self, proc: ProcessInfo, uid: int) -> str | None:
        return {0: "root", 1000: "alice"}.get(uid)

    def group_name(self, proc: ProcessInfo, gid: int) -> str | None:
        return {0: "root"}.get(gid)

    def cwd(self, proc: ProcessInfo) -> str | None:
        return proc.cwd

    def wall_ns(self, monotonic_ns: int) -> int:
        return 1_700_000_000_000_000_000 + monotonic_ns

    def monotonic_now(self) -> int:
        return 10_000


def _open(pid: int, name: str, flags: int = 0, res: int = 3) -> SyscallEvent:
    ctx = Ctx()
    rec = RawRecord(
        RecordKind.SYSCALL, 5_000, pid, pid, "openat", res=res,
        args={"dirfd": 4294967196, "name": name, "flags": flags, "mode": 0},
    )  # fmt: skip
    return SyscallEvent(rec, ctx.procs[pid], ctx)


@pytest.fixture(scope="module")
def stable() -> CompiledRules:
    if not STABLE.exists():
        pytest.skip(f"{STABLE} is not present")
    compiled = compile_ruleset(load_rules_files([str(STABLE)]), field_classes(["syscall"]))
    append_container_output(compiled)
    return compiled


def test_registered_and_indexed() -> None:
    classes = field_classes(["syscall"])
    assert isinstance(classes["syscall"], SyscallFields)
    assert SyscallFields.index_fields == ("evt.type",)


def test_open_fields() -> None:
    e = _open(12, "../etc/./shadow", flags=0o2000000)
    assert e.value("evt.type") == "openat" and e.value("evt.dir") == "<"
    assert e.value("fd.name") == "/etc/shadow"  # relative to the cwd, normalised
    assert e.value("fd.nameraw") == "../etc/./shadow"
    assert (e.value("fd.directory"), e.value("fd.filename"), e.value("fd.typechar")) == (
        "/etc",
        "shadow",
        "f",
    )
    assert e.value("fd.num") == 3 and e.value("evt.res") == "SUCCESS" and e.value("evt.rawres") == 3
    assert e.value("evt.is_open_read") is True and e.value("evt.is_open_write") is False
    assert e.value("evt.arg.flags") == "O_RDONLY|O_CLOEXEC"
    assert e.value("evt.arg.dirfd") == "-100(AT_FDCWD)"
    failed = _open(12, "/nope", res=-2)
    assert failed.value("evt.res") == "ENOENT" and failed.value("fd.num") == -1
    assert open_flags_text(0o1101) == "O_WRONLY|O_CREAT|O_TRUNC"


def test_process_user_container_fields() -> None:
    e = _open(12, "/etc/shadow")
    assert e.value("proc.name") == "cat" and e.value("proc.cmdline") == "cat /etc/shadow"
    assert e.value("proc.pname") == "sh" and e.value("proc.pcmdline") == "sh -c cat /etc/shadow"
    assert e.value("proc.aname", "2") == "conmon" and e.value("proc.aname", "0") == "cat"
    assert e.value("proc.aname") == ["sh", "conmon", "systemd"]
    assert e.value("proc.aname", "9") is None
    assert e.value("proc.exepath") == "/usr/bin/cat" and e.value("proc.pexepath") == "/usr/bin/sh"
    assert e.value("proc.duration") == 3_000 and e.value("proc.cwd") == "/root"
    assert e.value("user.name") == "root" and e.value("user.loginuid") == -1
    assert e.value("user.loginname") is None and e.value("group.name") == "root"
    assert e.value("container.id") == CID[:12] and e.value("container.full_id") == CID
    assert e.value("container.name") == "web"
    assert e.value("container.image.repository") == "docker.io/library/nginx"
    assert e.value("container.image.tag") == "1.25" and e.value("container.privileged") is False
    host = _open(5, "/etc/hosts")
    assert host.value("container.id") == "host" and host.value("container.image.repository") is None
    # defined for the rules, not filled by this sensor
    assert "thread.cap_inheritable" in UNFILLED and e.value("thread.cap_inheritable") is None
    with pytest.raises(KeyError):
        e.value("no.such.field")


def test_stable_rules_compile_and_fire(stable: CompiledRules) -> None:
    names = {r.name for r in stable.rules}
    assert {"Read sensitive file untrusted", "Terminal shell in container"} <= names
    # the only error is the compiler's macro load-order check (Falco lets rules see later macros)
    assert all("before it is defined" in str(m) for m in stable.errors)
    types, unbounded = rule_evttypes(stable)
    assert {"open", "openat", "execve", "symlinkat"} <= types and unbounded == []
    assert "thread.cap_effective" not in unfilled_fields(stable)

    engine = Engine(stable)
    alerts = engine.process(_open(12, "/etc/shadow"))
    assert [a.rule for a in alerts] == ["Read sensitive file untrusted"]
    fields = alerts[0].output_fields
    assert fields["fd.name"] == "/etc/shadow" and fields["container.id"] == CID[:12]
    assert (
        fields["container.name"] == "web"
        and fields["container.image.repository"] == "docker.io/library/nginx"
    )
    assert engine.process(_open(12, "/etc/hostname")) == []
    assert engine.process(_open(11, "/etc/shadow")) == []  # shells are trusted readers

    ctx = Ctx()
    exec_rec = RawRecord(RecordKind.EXEC, 1_500, 11, 11, "execve", ppid=10, comm="sh")
    alerts = engine.process(SyscallEvent(exec_rec, ctx.procs[11], ctx))
    assert [a.rule for a in alerts] == ["Terminal shell in container"]
    assert alerts[0].output_fields["proc.tty"] == 34816


def test_container_ids_from_cgroups() -> None:
    assert container_id_from_cgroup_name(f"libpod-{CID}") == CID
    assert container_id_from_cgroup_name(f"libpod-{CID}.scope") == CID
    assert container_id_from_cgroup_name(f"libpod-conmon-{CID}") is None
    assert container_id_from_cgroup_name(f"docker-{CID}.scope") == CID
    assert container_id_from_cgroup_name(f"cri-containerd-{CID}.scope") == CID
    assert container_id_from_cgroup_name(f"crio-{CID}.scope") == CID
    assert container_id_from_cgroup_name(f"crio-conmon-{CID}.scope") is None
    assert container_id_from_cgroup_name("session-1.scope") is None
    assert container_id_from_cgroup_line(f"/kubepods/besteffort/pod1234/{CID}") == CID
    assert container_id_from_cgroup_line(f"/docker/{CID}") == CID
    assert container_id_from_cgroup_line("/user.slice/user-0.slice") is None


def test_container_info_from_inspect() -> None:
    info = container_info_from_inspect(
        {
            "Id": CID, "Name": "web", "ImageName": "docker.io/x/y:2", "Image": "f" * 64,
            "ImageDigest": "sha256:" + "e" * 64, "HostConfig": {"Privileged": True},
            "Config": {"Labels": {"io.kubernetes.pod.name": "p", "io.kubernetes.pod.namespace": "ns"}},
            "Mounts": [{"Source": "/h", "Destination": "/c", "RW": False}],
            "State": {"StartedAt": "2026-01-02T03:04:05.123456789Z"},
        }
    )  # fmt: skip
    assert (info.name, info.image, info.privileged, info.runtime) == (
        "web",
        "docker.io/x/y:2",
        True,
        "podman",
    )
    assert info.labels["io.kubernetes.pod.name"] == "p"
    assert info.mounts == (ContainerMount("/h", "/c", "", False, ""),)
    assert info.start_ns is not None and info.start_ns % 1_000_000_000 == 123456789
