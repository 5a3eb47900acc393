"""The fd table: what each open file descriptor of each process is, so a syscall record that
carries only an fd number (``dup2(3, 0)``, ``sendto(5, ...)``) can answer ``fd.type``,
``fd.name``, ``fd.sip`` or ``fd.l4proto`` as Falco does.

Entries are keyed by (pid, fd) and kept in one bounded LRU (``limit``); a process's entries go
when it exits (``on_exit``, called from the process table's exit hook in the runner). They are
filled from the records the sensor sees:

- opens and ``creat`` (file or directory and its absolute path), ``memfd_create``;
- ``socket`` (family, l4 protocol from type/protocol), ``connect`` (this process is the client:
  the local end from the kernel socket, the server from the sockaddr), ``accept``/``accept4``
  (the new fd: this process is the server, the peer is the client), ``bind`` (a server socket on
  the bound address), ``listen``, and ``sendto`` with an address on an unconnected socket (the
  tuple changes: Falco's ``fd.name_changed``);
- ``dup``/``dup2``/``dup3`` copy the old fd's entry to the new number.

The kernel side reads the local address of connect/accept/bind/sendto from the kernel socket
itself (``curtask->files->fdt->fd[N]``, see ``bpftrace._socket_probes``), so no ``/proc`` read
is needed for them. An fd the table has not seen (opened before the sensor started, created by a
syscall that is not attached, inherited across fork) is resolved lazily from ``/proc``:
``readlink /proc/PID/fd/N`` gives a path or ``socket:[INODE]``; a socket's addresses come from
``/proc/PID/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}`` by inode (the process's own network
namespace). Those reads are bounded (``_NET_READ_LIMIT`` bytes per file) and cached for a
second per network namespace. A process that is already gone resolves to nothing (<NA>).

Not tracked: ``close`` (rarely attached: an fd number reused by a call the sensor does not see
keeps its old entry until an attached call names it again), ``sendmsg`` addresses, ``pipe``,
``eventfd`` and friends unless resolved from ``/proc``.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import stat
import struct
import time
from collections import OrderedDict
from pathlib import Path

from yamori.sensor.interface import OPEN_SYSCALLS, FdInfo, RawRecord, SocketInfo

__all__ = [
    "AF_INET",
    "AF_INET6",
    "AF_UNIX",
    "FdTable",
    "decode_socket",
    "fd_typechar",
    "ipv4_text",
    "ipv6_text",
    "net_port",
]

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET = 1, 2, 10, 16, 17
_SOCK_STREAM, _SOCK_DGRAM, _SOCK_RAW = 1, 2, 3
_IPPROTO_ICMP, _IPPROTO_TCP, _IPPROTO_UDP, _IPPROTO_ICMPV6 = 1, 6, 17, 58
_EINPROGRESS = 115
_O_DIRECTORY, _O_TMPFILE = 0o200000, 0o20000000
_NET_READ_LIMIT = 4 << 20

_TYPECHARS = {
    "file": "f", "directory": "d", "ipv4": "4", "ipv6": "6", "unix": "u", "pipe": "p",
    "event": "e", "signalfd": "s", "eventpoll": "l", "inotify": "i", "timerfd": "t",
    "netlink": "n", "bpf": "b", "userfaultfd": "u", "io_uring": "r", "memfd": "m", "pidfd": "P",
}  # fmt: skip
_ANON = {
    "[eventfd]": "event", "[eventpoll]": "eventpoll", "inotify": "inotify", "[signalfd]": "signalfd",
    "[timerfd]": "timerfd", "[userfaultfd]": "userfaultfd", "[io_uring]": "io_uring",
    "[pidfd]": "pidfd",
}  # fmt: skip


def fd_typechar(fd_type: str | None) -> str | None:
    """Falco's one-character fd type ('o' for a type it does not name)."""
    if fd_type is None:
        return None
    return _TYPECHARS.get(fd_type, "o")


# --------------------------------------------------------------------------- decoding


def net_port(raw: int) -> int:
    """A network-order u16 the kernel side read as a little-endian integer -> the port."""
    return ((raw & 0xFF) << 8) | ((raw >> 8) & 0xFF)


def ipv4_text(word: int) -> str:
    """An IPv4 address stored in network order and read as a little-endian u32."""
    return socket.inet_ntop(socket.AF_INET, struct.pack("<I", word & 0xFFFFFFFF))


def ipv6_text(words: tuple[int, int, int, int] | list[int]) -> str:
    """An IPv6 address read as four little-endian u32 words; IPv4-mapped ones print as IPv4
    (Falco turns such a socket into an ipv4 fd)."""
    raw = struct.pack("<4I", *(w & 0xFFFFFFFF for w in words))
    if raw[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.inet_ntop(socket.AF_INET, raw[12:])
    return socket.inet_ntop(socket.AF_INET6, raw)


def _endpoint(family: int, port: int, words: list[int]) -> tuple[str, int] | None:
    if family == AF_INET:
        return ipv4_text(words[0]), net_port(port)
    if family == AF_INET6:
        return ipv6_text(words), net_port(port)
    return None


def decode_socket(ints: list[int], path: str) -> SocketInfo:
    """A socket record's ints (``bpftrace.SOCK_INTS``) and its AF_UNIX path -> ``SocketInfo``."""
    if len(ints) < 22:
        return SocketInfo()
    kf, ktype, kproto, lport, rport, l4, r4 = ints[0:7]
    local = remote = None
    if kf == AF_INET:
        local, remote = (ipv4_text(l4), net_port(lport)), (ipv4_text(r4), net_port(rport))
    elif kf == AF_INET6:
        local, remote = (ipv6_text(ints[7:11]), net_port(lport)), (ipv6_text(ints[11:15]), net_port(rport))
    afam, aport = ints[16], ints[17]
    addr = _endpoint(afam, aport, ints[18:22])
    unix_path: str | None = None
    if afam == AF_UNIX:
        unix_path = path
        # the kernel side dropped an abstract name's leading NUL: it printed from the next byte
        if unix_path and not unix_path.startswith("/"):
            unix_path = "@" + unix_path
    return SocketInfo(
        family=kf,
        type=ktype,
        proto=kproto,
        local=local,
        remote=remote,
        inode=ints[15],
        addr_family=afam,
        addr=addr,
        path=unix_path,
    )


def _l4proto(sock_type: int, proto: int) -> str | None:
    sock_type &= 0xF  # SOCK_NONBLOCK / SOCK_CLOEXEC ride in the high bits
    if proto in (_IPPROTO_ICMP, _IPPROTO_ICMPV6):
        return "icmp"
    if sock_type == _SOCK_STREAM or proto == _IPPROTO_TCP:
        return "tcp"
    if sock_type == _SOCK_DGRAM or proto == _IPPROTO_UDP:
        return "udp"
    if sock_type == _SOCK_RAW:
        return "raw"
    return None


def _family_type(family: int, ip: str | None = None) -> str | None:
    if family == AF_INET:
        return "ipv4"
    if family == AF_INET6:
        return "ipv4" if ip is not None and ":" not in ip else "ipv6"
    if family == AF_UNIX:
        return "unix"
    if family == AF_NETLINK:
        return "netlink"
    return None


def _tuple_name(info: FdInfo) -> str:
    if info.cip is None:
        return f"{info.sip}:{info.sport}" if info.sip is not None else ""
    return f"{info.cip}:{info.cport}->{info.sip}:{info.sport}"


# --------------------------------------------------------------------------- /proc resolution


def _hex_addr(text: str) -> tuple[str, int] | None:
    """``0100007F:1F90`` (IPv4) or 32 hex digits (IPv6), as /proc/net/tcp prints them."""
    addr, _, port = text.partition(":")
    try:
        # each 32-bit word is printed as the host-order integer: the same value the kernel side
        # reads (network-order bytes as a little-endian u32)
        words = [int(addr[i : i + 8], 16) for i in range(0, len(addr), 8)]
        pnum = int(port, 16)
    except ValueError:
        return None
    if len(words) == 1:
        return ipv4_text(words[0]), pnum
    if len(words) == 4:
        return ipv6_text(words), pnum
    return None


class _NetSnapshot:
    """Sockets of one network namespace by inode: (type, l4proto, local, remote, listening)."""

    def __init__(self, base: Path) -> None:
        self.inet: dict[int, tuple[str, str, tuple[str, int], tuple[str, int], bool]] = {}
        self.unix: dict[int, str] = {}
        self.listening: set[int] = set()  # local ports in LISTEN state
        for name, proto in (("tcp", "tcp"), ("tcp6", "tcp"), ("udp", "udp"), ("udp6", "udp"),
                            ("raw", "raw"), ("raw6", "raw")):  # fmt: skip
            for fields in _rows(base / name):
                if len(fields) < 10 or not fields[9].isdigit():
                    continue
                local, remote = _hex_addr(fields[1]), _hex_addr(fields[2])
                if local is None or remote is None:
                    continue
                listen = proto == "tcp" and fields[3] == "0A"
                if listen:
                    self.listening.add(local[1])
                ftype = "ipv6" if ":" in local[0] else "ipv4"
                self.inet[int(fields[9])] = (ftype, proto, local, remote, listen)
        for fields in _rows(base / "unix"):
            if len(fields) >= 7 and fields[6].isdigit():
                self.unix[int(fields[6])] = fields[7] if len(fields) > 7 else ""


def _rows(path: Path) -> list[list[str]]:
    try:
        with path.open("rb") as f:
            data = f.read(_NET_READ_LIMIT)
    except OSError:
        return []
    return [line.split() for line in data.decode("utf-8", "replace").splitlines()[1:]]


# --------------------------------------------------------------------------- the table


class FdTable:
    """(pid, fd) -> ``FdInfo``, bounded LRU; see the module docstring."""

    def __init__(self, limit: int = 65536, proc: Path = Path("/proc"), net_ttl: float = 1.0) -> None:
        self.limit = limit
        self.proc = proc
        self.net_ttl = net_ttl
        self._fds: OrderedDict[tuple[int, int], FdInfo] = OrderedDict()
        self._by_pid: dict[int, set[int]] = {}
        self._net: OrderedDict[str, tuple[float, _NetSnapshot]] = OrderedDict()
        self.evicted = 0
        self.resolved = 0  # entries read from /proc

    def __len__(self) -> int:
        return len(self._fds)

    def put(self, pid: int, fd: int, info: FdInfo) -> FdInfo:
        key = (pid, fd)
        self._fds[key] = info
        self._fds.move_to_end(key)
        self._by_pid.setdefault(pid, set()).add(fd)
        while len(self._fds) > self.limit:
            (opid, ofd), _ = self._fds.popitem(last=False)
            fds = self._by_pid.get(opid)
            if fds is not None:
                fds.discard(ofd)
                if not fds:
                    del self._by_pid[opid]
            self.evicted += 1
        return info

    def peek(self, pid: int, fd: int) -> FdInfo | None:
        """The entry if the table has it (no /proc read)."""
        return self._fds.get((pid, fd))

    def get(self, pid: int, fd: int) -> FdInfo | None:
        """The entry, resolved from /proc (and kept) when no record named this fd."""
        if fd < 0:
            return None
        info = self._fds.get((pid, fd))
        if info is None:
            info = self.resolve(pid, fd)
            if info is not None:
                self.resolved += 1
                self.put(pid, fd, info)
        return info

    def remove(self, pid: int, fd: int) -> None:
        if self._fds.pop((pid, fd), None) is not None:
            fds = self._by_pid.get(pid)
            if fds is not None:
                fds.discard(fd)

    def on_exit(self, pid: int) -> None:
        """A process ended: its fds are gone."""
        for fd in self._by_pid.pop(pid, ()):
            self._fds.pop((pid, fd), None)

    # ----------------------------------------------------------------- updates from records

    def on_record(self, rec: RawRecord, path: str | None = None) -> None:
        """Fold one syscall record in; ``path`` is an open's absolute path (the runner has the
        process's cwd)."""
        etype, res, pid = rec.evt_type, rec.res, rec.pid
        if etype in OPEN_SYSCALLS:
            if res >= 0 and path is not None:
                flags = rec.args.get("flags")
                is_dir = isinstance(flags, int) and flags & _O_DIRECTORY and not flags & _O_TMPFILE
                self.put(pid, res, FdInfo("directory" if is_dir else "file", path))
            return
        if etype in ("dup", "dup2", "dup3"):
            old = rec.args.get("fd" if etype == "dup" else "oldfd")
            if res >= 0 and isinstance(old, int):
                src = self._dup_source(pid, _signed32(old), rec.sock)
                if src is not None and res != _signed32(old):
                    self.put(pid, res, dataclasses.replace(src))
            return
        if etype == "memfd_create":
            if res >= 0:
                self.put(pid, res, FdInfo("memfd", f"memfd:{rec.args.get('name', '')}"))
            return
        if etype == "close":
            fd = rec.args.get("fd")
            if res >= 0 and isinstance(fd, int):
                self.remove(pid, _signed32(fd))
            return
        if etype == "socket":
            if res >= 0:
                domain, stype, proto = (rec.args.get(k, 0) for k in ("domain", "type", "proto"))
                assert isinstance(domain, int) and isinstance(stype, int) and isinstance(proto, int)
                ftype = _family_type(domain)
                l4 = _l4proto(stype, proto) if domain in (AF_INET, AF_INET6) else None
                self.put(pid, res, FdInfo(ftype or "unknown", "", l4))
            return
        if etype == "listen":
            fd = rec.args.get("fd")
            if res >= 0 and isinstance(fd, int):
                info = self.get(pid, _signed32(fd))
                if info is not None:
                    info.listening, info.role = True, "server"
            return
        sock = rec.sock
        if sock is None:
            return
        if etype == "connect":
            if res >= 0 or res == -_EINPROGRESS:
                self._connected(rec, sock, _arg_fd(rec), client=True)
        elif etype in ("accept", "accept4"):
            if res >= 0:
                self._connected(rec, sock, res, client=False)
        elif etype == "bind":
            if res >= 0:
                self._bound(rec, sock, _arg_fd(rec))
        elif etype == "sendto" and res >= 0 and (sock.addr is not None or sock.path is not None):
            fd = _arg_fd(rec)
            info = self.get(pid, fd)
            if info is not None and info.connected:
                return  # the destination of a connected socket is fixed
            self._connected(rec, sock, fd, client=True, sendto=True)

    def _dup_source(self, pid: int, fd: int, sock: SocketInfo | None) -> FdInfo | None:
        """The old fd of a dup: the table's entry when the kernel side agrees with it (same
        socket inode), else what the kernel side read (a socket's addresses, or "not a socket").
        No /proc read here: by the time the record is handled the fd number may already name
        another file (a shell dup2s a here-document to stdin, then execs a program that opens a
        socket as the same number)."""
        if sock is None or not sock.inode:
            return self.get(pid, fd)  # nothing read in the kernel (older record source)
        known = self._fds.get((pid, fd))
        if sock.family not in (AF_INET, AF_INET6, AF_UNIX):
            if known is not None and known.type not in ("ipv4", "ipv6", "unix"):
                return known  # a file or pipe the table named
            return self.put(pid, fd, FdInfo("unknown", inode=sock.inode))
        if known is not None and known.inode == sock.inode:
            return known
        info = FdInfo(_family_type(sock.family, (sock.remote or ("", 0))[0]) or "unknown", inode=sock.inode)
        info.l4proto = _l4proto(sock.type, sock.proto) if sock.family != AF_UNIX else None
        if sock.family != AF_UNIX and sock.local is not None and sock.remote is not None:
            if sock.remote[1] == 0:  # bound or listening, not connected
                info.sip, info.sport = sock.local
                info.role = "server"
            else:  # which end connected is unknown here: the local end is taken as the client
                info.cip, info.cport = sock.local
                info.sip, info.sport = sock.remote
                info.connected = True
            info.name = _tuple_name(info)
        return self.put(pid, fd, info)

    def _base(self, pid: int, fd: int, sock: SocketInfo) -> FdInfo:
        info = self._fds.get((pid, fd))
        if info is None:
            info = FdInfo("unknown")
            self.put(pid, fd, info)
        if sock.family:
            l4 = _l4proto(sock.type, sock.proto)
            if l4 is not None and sock.family in (AF_INET, AF_INET6):
                info.l4proto = l4
        if sock.inode:
            info.inode = sock.inode
        return info

    def _connected(
        self, rec: RawRecord, sock: SocketInfo, fd: int, *, client: bool, sendto: bool = False
    ) -> None:
        info = self._base(rec.pid, fd, sock)
        old_name = info.name
        family = sock.family or sock.addr_family
        if family == AF_UNIX or sock.path is not None:
            info.type = "unix"
            info.name = sock.path or info.name
        else:
            peer = sock.addr if client else (sock.remote or sock.addr)
            if client and peer is None:
                peer = sock.remote
            local = sock.local
            if peer is None and local is None:
                return
            ip = (peer or local or ("", 0))[0]
            info.type = _family_type(family, ip) or info.type
            if client:
                info.cip, info.cport = local if local is not None else (None, None)
                info.sip, info.sport = peer if peer is not None else (None, None)
            else:
                info.cip, info.cport = peer if peer is not None else (None, None)
                info.sip, info.sport = local if local is not None else (None, None)
            if info.cip is None and info.sip is not None:
                info.cip, info.cport = ("0.0.0.0" if ":" not in info.sip else "::"), 0
            info.name = _tuple_name(info)
        info.role = "client" if client else "server"
        if not sendto:
            info.connected = True
        if info.name != old_name:
            info.changed_ts = rec.ts

    def _bound(self, rec: RawRecord, sock: SocketInfo, fd: int) -> None:
        info = self._base(rec.pid, fd, sock)
        if sock.path is not None:
            info.type, info.name = "unix", sock.path
        else:
            addr = sock.local or sock.addr
            if addr is None:
                return
            info.type = _family_type(sock.family or sock.addr_family, addr[0]) or info.type
            info.sip, info.sport = addr
            info.cip = info.cport = None
            info.name = _tuple_name(info)
        info.role = "server"
        info.changed_ts = rec.ts

    # ----------------------------------------------------------------- /proc

    def resolve(self, pid: int, fd: int) -> FdInfo | None:
        """One fd from ``/proc/PID/fd/N`` (None when the process or the fd is gone)."""
        try:
            target = os.readlink(self.proc / str(pid) / "fd" / str(fd))
        except OSError:
            return None
        if target.startswith("/"):
            if target.startswith("/memfd:"):
                return FdInfo("memfd", target[1:].removesuffix(" (deleted)"))
            try:
                mode = os.stat(self.proc / str(pid) / "fd" / str(fd)).st_mode
            except OSError:
                mode = 0
            return FdInfo("directory" if stat.S_ISDIR(mode) else "file", target)
        if target.startswith("socket:["):
            try:
                inode = int(target[8:-1])
            except ValueError:
                return FdInfo("unknown")
            return self._socket_from_proc(pid, inode)
        if target.startswith("pipe:"):
            return FdInfo("pipe", target)
        if target.startswith("anon_inode:"):
            kind = target[len("anon_inode:") :]
            if kind.startswith("bpf"):
                return FdInfo("bpf", target)
            return FdInfo(_ANON.get(kind, "unknown"), target)
        return FdInfo("unknown", target)

    def _snapshot(self, pid: int) -> _NetSnapshot | None:
        try:
            ns = os.readlink(self.proc / str(pid) / "ns" / "net")
        except OSError:
            ns = f"pid:{pid}"
        now = time.monotonic()
        hit = self._net.get(ns)
        if hit is not None and now - hit[0] < self.net_ttl:
            return hit[1]
        snap = _NetSnapshot(self.proc / str(pid) / "net")
        self._net[ns] = (now, snap)
        self._net.move_to_end(ns)
        while len(self._net) > 64:
            self._net.popitem(last=False)
        return snap

    def _socket_from_proc(self, pid: int, inode: int) -> FdInfo:
        snap = self._snapshot(pid)
        if snap is not None:
            row = snap.inet.get(inode)
            if row is not None:
                ftype, proto, local, remote, listen = row
                info = FdInfo(ftype, l4proto=proto, inode=inode)
                if listen:
                    info.sip, info.sport = local
                    info.role, info.listening = "server", True
                elif remote[1] == 0 and remote[0] in ("0.0.0.0", "::"):
                    info.sip, info.sport = local  # bound, not connected (udp)
                    info.role = "server"
                else:
                    server = local[1] in snap.listening
                    client_end, server_end = (remote, local) if server else (local, remote)
                    info.cip, info.cport = client_end
                    info.sip, info.sport = server_end
                    info.role = "server" if server else "client"
                    info.connected = True
                info.name = _tuple_name(info)
                return info
            path = snap.unix.get(inode)
            if path is not None:
                return FdInfo("unix", path, inode=inode)
        return FdInfo("unknown", f"socket:[{inode}]", inode=inode)


def _signed32(value: int) -> int:
    return value - (1 << 32) if (1 << 31) <= value < (1 << 32) else value


def _arg_fd(rec: RawRecord) -> int:
    fd = rec.args.get("fd")
    return _signed32(fd) if isinstance(fd, int) else -1
