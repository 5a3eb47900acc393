"""The fd table and the network fields, from hand-built records (no kernel): sockaddr decoding,
socket/connect/accept/bind/dup bookkeeping, lazy /proc resolution of this test's own sockets,
and Falco's semantics of fd.ip / fd.net / fd.port (either end) in compiled conditions."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from support.sensor_context import FakeContext
from yamori.detect.compiler import compile_ruleset
from yamori.detect.fields.syscall import SyscallEvent
from yamori.detect.rules import load_rules_files
from yamori.detect.sources import field_classes
from yamori.sensor.bpftrace import SOCK_INTS, RecordAssembler, generate_program
from yamori.sensor.fdtable import AF_INET, AF_INET6, AF_UNIX, FdTable, decode_socket, ipv6_text, net_port
from yamori.sensor.interface import ContainerInfo, FdInfo, ProcessInfo, RawRecord, RecordKind

PID = 4242


def _le32(ip: str) -> int:
    """An IPv4 address as the kernel side reads it (network-order bytes as a little-endian u32)."""
    return int(struct.unpack("<I", socket.inet_aton(ip))[0])


def _le_port(port: int) -> int:
    return int(struct.unpack("<H", struct.pack(">H", port))[0])


def _v6_words(ip: str) -> list[int]:
    return list(struct.unpack("<4I", socket.inet_pton(socket.AF_INET6, ip)))


def _ints(
    *,
    kf: int = 0,
    proto: int = 0,
    local: tuple[str, int] | None = None,
    remote: tuple[str, int] | None = None,
    afam: int = 0,
    addr: tuple[str, int] | None = None,
) -> list[int]:
    """The 22 SOCK_INTS a socket record carries."""
    out = [kf, 1 if proto == 6 else 2, proto, 0, 0, 0, 0] + [0] * 8 + [77]
    if kf == AF_INET and local and remote:
        out[3], out[4], out[5], out[6] = (
            _le_port(local[1]),
            _le_port(remote[1]),
            _le32(local[0]),
            _le32(remote[0]),
        )
    if kf == AF_INET6 and local and remote:
        out[3], out[4] = _le_port(local[1]), _le_port(remote[1])
        out[7:11], out[11:15] = _v6_words(local[0]), _v6_words(remote[0])
    sa = [afam, 0, 0, 0, 0, 0]
    if afam == AF_INET and addr:
        sa[1], sa[2] = _le_port(addr[1]), _le32(addr[0])
    if afam == AF_INET6 and addr:
        sa[1] = _le_port(addr[1])
        sa[2:6] = _v6_words(addr[0])
    return out + sa


def test_sock_ints_layout() -> None:
    assert len(SOCK_INTS) == 22 == len(_ints())


def test_decode_ipv4_ipv6_unix() -> None:
    info = decode_socket(
        _ints(kf=AF_INET, proto=6, local=("10.0.0.5", 40000), remote=("1.2.3.4", 443), afam=AF_INET,
              addr=("1.2.3.4", 443)),
        "",
    )  # fmt: skip
    assert info.local == ("10.0.0.5", 40000) and info.remote == ("1.2.3.4", 443)
    assert info.addr == ("1.2.3.4", 443) and info.inode == 77 and info.path is None
    v6 = decode_socket(_ints(kf=AF_INET6, proto=6, local=("::1", 5), remote=("2001:db8::7", 22)), "")
    assert v6.local == ("::1", 5) and v6.remote == ("2001:db8::7", 22)
    assert decode_socket(_ints(afam=AF_UNIX), "/run/x.sock").path == "/run/x.sock"
    assert decode_socket(_ints(afam=AF_UNIX), "abstract").path == "@abstract"
    assert ipv6_text(_v6_words("::ffff:10.1.2.3")) == "10.1.2.3"  # mapped: shown as IPv4
    assert net_port(_le_port(4444)) == 4444
    assert decode_socket([1, 2], "").family == 0  # short: nothing decoded


def test_assembler_decodes_socket_records() -> None:
    ints = _ints(kf=AF_INET, proto=6, local=("127.0.0.1", 5555), remote=("127.0.0.1", 80), afam=AF_INET,
                 addr=("127.0.0.1", 80))  # fmt: skip
    sep = "\x1f"
    header = sep.join(
        ["S", "100", "7", "7", "connect", "0", "2", str(1 + len(ints)), "3", *map(str, ints), ""]
    )
    asm = RecordAssembler()
    assert asm.feed(header) is None  # waits for the path line
    rec = asm.feed(sep.join(["P", "100", "7", "1", ""]))
    assert rec is not None and rec.evt_type == "connect" and rec.args == {"fd": 3}
    assert (
        rec.sock is not None and rec.sock.addr == ("127.0.0.1", 80) and rec.sock.local == ("127.0.0.1", 5555)
    )


def test_generated_program_has_socket_probes() -> None:
    program, attached, _ = generate_program(["dup2"], 1)
    # dup2 wants the fd table: the socket calls that name sockets are attached with it
    assert {"socket", "connect", "accept", "accept4", "bind"} <= set(attached)
    assert "args->uservaddr" in program and "curtask->files->fdt" in program
    assert "clear(@sa);" in program and "clear(@sl);" in program
    program, attached, _ = generate_program(["openat"], 1)
    assert "connect" not in attached


def _rec(etype: str, res: int = 0, ts: int = 1000, sock: Any = None, **args: int | str) -> RawRecord:
    return RawRecord(RecordKind.SYSCALL, ts, PID, PID, etype, res=res, args=dict(args), sock=sock)


def test_table_connect_dup_and_exit() -> None:
    fds = FdTable(proc=_nowhere())
    fds.on_record(_rec("socket", 3, domain=AF_INET, type=1 | 0o4000, proto=0))
    assert fds.get(PID, 3) == FdInfo("ipv4", "", "tcp")
    sock = decode_socket(
        _ints(kf=AF_INET, proto=6, local=("172.17.0.2", 41000), remote=("8.8.8.8", 53), afam=AF_INET,
              addr=("8.8.8.8", 53)),
        "",
    )  # fmt: skip
    fds.on_record(_rec("connect", -115, ts=2000, sock=sock, fd=3))
    info = fds.get(PID, 3)
    assert info is not None and info.name == "172.17.0.2:41000->8.8.8.8:53"
    assert info.role == "client" and info.connected and info.changed_ts == 2000
    fds.on_record(_rec("dup2", 0, oldfd=3, newfd=0))
    dup = fds.get(PID, 0)
    assert dup is not None and dup.name == info.name and dup is not info
    fds.on_exit(PID)
    assert len(fds) == 0


def test_table_accept_bind_listen_sendto_unix() -> None:
    fds = FdTable(proc=_nowhere())
    bound = decode_socket(_ints(kf=AF_INET, proto=6, local=("0.0.0.0", 8080), remote=("0.0.0.0", 0),
                                afam=AF_INET, addr=("0.0.0.0", 8080)), "")  # fmt: skip
    fds.on_record(_rec("bind", 0, sock=bound, fd=5))
    fds.on_record(_rec("listen", 0, fd=5, backlog=5))
    server = fds.get(PID, 5)
    assert (
        server is not None and server.name == "0.0.0.0:8080" and server.listening and server.role == "server"
    )
    peer = decode_socket(_ints(kf=AF_INET, proto=6, local=("10.0.0.1", 8080), remote=("10.0.0.9", 5000)), "")
    fds.on_record(_rec("accept4", 6, sock=peer, fd=5, flags=0))
    conn = fds.get(PID, 6)
    assert conn is not None and conn.name == "10.0.0.9:5000->10.0.0.1:8080" and conn.role == "server"
    udp = decode_socket(_ints(kf=AF_INET, proto=17, local=("10.0.0.1", 7000), remote=("0.0.0.0", 0),
                              afam=AF_INET, addr=("9.9.9.9", 53)), "")  # fmt: skip
    fds.on_record(_rec("socket", 7, domain=AF_INET, type=2, proto=0))
    fds.on_record(_rec("sendto", 10, ts=5000, sock=udp, fd=7))
    dgram = fds.get(PID, 7)
    assert dgram is not None and dgram.l4proto == "udp" and not dgram.connected
    assert dgram.name == "10.0.0.1:7000->9.9.9.9:53" and dgram.changed_ts == 5000
    fds.on_record(_rec("socket", 8, domain=AF_UNIX, type=1, proto=0))
    fds.on_record(_rec("connect", 0, sock=decode_socket(_ints(afam=AF_UNIX), "/run/docker.sock"), fd=8))
    unix = fds.get(PID, 8)
    assert unix is not None and unix.type == "unix" and unix.name == "/run/docker.sock"
    fds.on_record(_rec("socket", 9, domain=17, type=3, proto=768))  # AF_PACKET: no Falco type
    packet = fds.get(PID, 9)
    assert packet is not None and packet.type == "unknown"


def test_table_is_bounded() -> None:
    fds = FdTable(limit=3, proc=_nowhere())
    for fd in range(5):
        fds.on_record(_rec("openat", fd, name=f"/f{fd}", flags=0), f"/f{fd}")
    assert len(fds) == 3 and fds.evicted == 2 and fds.peek(PID, 0) is None


def _nowhere() -> Path:
    return Path("/nonexistent-proc")


def test_lazy_resolution_from_proc(tmp_path: Path) -> None:
    """This process's own fds, read back through /proc (files, a listening and a connected TCP
    socket, a unix socket pair, a pipe)."""
    fds = FdTable()
    pid = os.getpid()
    path = tmp_path / "data.txt"
    with path.open("w") as f, socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = listener.accept()
        a, b = socket.socketpair()
        r, w = os.pipe()
        try:
            assert fds.get(pid, f.fileno()) == FdInfo("file", str(path))
            info = fds.get(pid, listener.fileno())
            assert info is not None and info.listening and info.name == f"127.0.0.1:{port}"
            info = fds.get(pid, client.fileno())
            cport = client.getsockname()[1]
            assert info is not None and info.type == "ipv4" and info.l4proto == "tcp"
            assert info.name == f"127.0.0.1:{cport}->127.0.0.1:{port}" and info.role == "client"
            info = fds.get(pid, conn.fileno())
            assert (
                info is not None
                and info.role == "server"
                and info.name == f"127.0.0.1:{cport}->127.0.0.1:{port}"
            )
            unix = fds.get(pid, a.fileno())
            assert unix is not None and unix.type == "unix"
            pipe = fds.get(pid, r)
            assert pipe is not None and pipe.type == "pipe"
            assert fds.get(pid, 99999) is None
        finally:
            for s in (client, conn, a, b):
                s.close()
            os.close(r)
            os.close(w)


# --------------------------------------------------------------------------- fields and rules


def _event(fds: FdTable, rec: RawRecord) -> SyscallEvent:
    fds.on_record(rec)
    proc = ProcessInfo(pid=PID, ppid=1, comm="ssh", exe="/usr/bin/ssh", container_id="c" * 64)
    ctx = FakeContext(proc, ContainerInfo(id="c" * 64, name="web"), fds=fds.get)
    return SyscallEvent(rec, proc, ctx)


def _connect(fds: FdTable, remote: tuple[str, int], local: tuple[str, int], fd: int = 3) -> SyscallEvent:
    family = AF_INET6 if ":" in remote[0] else AF_INET
    fds.on_record(_rec("socket", fd, domain=family, type=1, proto=0))
    sock = decode_socket(_ints(kf=family, proto=6, local=local, remote=remote, afam=family, addr=remote), "")
    return _event(fds, _rec("connect", 0, ts=3000, sock=sock, fd=fd))


def test_socket_fields() -> None:
    fds = FdTable(proc=_nowhere())
    e = _connect(fds, ("93.184.216.34", 443), ("192.168.1.10", 50000))
    v = e.value
    assert v("fd.num") == 3 and v("fd.type") == "ipv4" and v("fd.typechar") == "4"
    assert v("fd.name") == "192.168.1.10:50000->93.184.216.34:443"
    assert (v("fd.cip"), v("fd.cport"), v("fd.sip"), v("fd.sport")) == (
        "192.168.1.10",
        50000,
        "93.184.216.34",
        443,
    )
    assert (v("fd.lip"), v("fd.lport"), v("fd.rip"), v("fd.rport")) == (
        "192.168.1.10",
        50000,
        "93.184.216.34",
        443,
    )
    assert v("fd.l4proto") == "tcp" and v("fd.sockfamily") == "ip"
    assert v("fd.connected") is True and v("fd.is_server") is False and v("fd.name_changed") is True
    assert v("fd.directory") is None and v("evt.arg.tuple") == v("fd.name")
    dup = _event(fds, _rec("dup2", 1, oldfd=3, newfd=1))
    assert dup.value("fd.type") == "ipv4" and dup.value("fd.sip") == "93.184.216.34"
    assert dup.value("evt.rawres") == 1
    sock = _event(fds, _rec("socket", 9, domain=17, type=3, proto=768))
    assert sock.value("evt.arg.domain") == "AF_PACKET" and sock.value("fd.type") is None
    assert sock.value("fd.typechar") == "o"


RULES = """
- macro: outbound
  condition: >
    ((evt.type = connect) and (fd.typechar = 4 or fd.typechar = 6) and
     (fd.ip != "0.0.0.0" and fd.net != "127.0.0.0/8" and not fd.snet in (rfc_1918_addresses)) and
     (evt.rawres >= 0 or evt.res = EINPROGRESS))
- list: rfc_1918_addresses
  items: ['"10.0.0.0/8"', '"172.16.0.0/12"', '"192.168.0.0/16"']
- rule: ssh out
  desc: d
  condition: outbound and proc.exe endswith ssh and fd.l4proto=tcp and fd.sport in (80, 443, 4444)
  output: "%fd.name %fd.lport %fd.rport"
  priority: NOTICE
- rule: port either end
  desc: d
  condition: evt.type = connect and fd.port = 50000 and fd.lnet = "192.168.0.0/16"
  output: x
  priority: NOTICE
"""


@pytest.mark.parametrize(
    ("remote", "local", "fired"),
    [
        (("93.184.216.34", 443), ("192.168.1.10", 50000), {"ssh out", "port either end"}),
        (("10.1.1.1", 443), ("192.168.1.10", 50000), {"port either end"}),  # server in RFC 1918
        (("127.0.0.1", 443), ("127.0.0.1", 50000), set()),  # loopback: fd.net = 127.0.0.0/8
        (("::1", 443), ("::1", 50001), {"ssh out"}),  # IPv6 loopback is outside 127.0.0.0/8
        (("93.184.216.34", 22), ("192.168.1.10", 50002), set()),
    ],
)
def test_network_conditions(
    remote: tuple[str, int], local: tuple[str, int], fired: set[str], tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    compiled = compile_ruleset(load_rules_files([tmp_path / "rules.yaml"]), field_classes(["syscall"]))
    assert [r.name for r in compiled.rules] == ["ssh out", "port either end"], compiled.messages
    event = _connect(FdTable(proc=_nowhere()), remote, local)
    matched = {rule.name for rule in compiled.rules if rule.evaluate(event)}
    assert matched == fired


def test_dup_trusts_the_kernel_over_a_stale_or_reused_fd() -> None:
    fds = FdTable()  # the real /proc: must not be consulted for the dup's old fd
    pid = os.getpid()
    listener = socket.socket()
    try:
        # a here-document dup2'd to stdin: the kernel says "not a socket" (inode, no family) even
        # though this process's fd with that number is a socket by the time it is handled
        not_socket = decode_socket([0] * 15 + [1234] + [0] * 6, "")
        args: dict[str, int | str] = {"oldfd": listener.fileno(), "newfd": 0}
        rec = RawRecord(RecordKind.SYSCALL, 1, pid, pid, "dup2", res=0, args=args, sock=not_socket)
        fds.on_record(rec)
        assert fds.get(pid, 0) == FdInfo("unknown", inode=1234)
        # a TCP socket the table never saw: the kernel's addresses name it
        sock = decode_socket(
            _ints(kf=AF_INET, proto=6, local=("127.0.0.1", 40000), remote=("127.0.0.1", 4444)), ""
        )
        rec = RawRecord(
            RecordKind.SYSCALL, 2, PID, PID, "dup2", res=1, args={"oldfd": 3, "newfd": 1}, sock=sock
        )
        fds.on_record(rec)
        info = fds.get(PID, 1)
        assert info is not None and info.type == "ipv4" and info.name == "127.0.0.1:40000->127.0.0.1:4444"
    finally:
        listener.close()
