"""The names behind IP addresses, for Falco's ``fd.sip.name``, ``fd.cip.name``, ``fd.lip.name``
and ``fd.rip.name``.

Falco does not reverse-resolve addresses (PTR records rarely name what a rule means, and a DNS
query per connection would stall the event path). Its "DNS manager" resolves *forward* the names
the rules compare these fields with, again and again in the background, and an address is given
every name that resolved to it: ``fd.sip.name = "kubernetes.default.svc.cluster.local"`` holds
when the server IP is one of that name's current addresses. This module does the same:

- ``rule_names`` collects the literal names compared with the four fields in the compiled
  rules (``=``, ``!=``, ``in`` and list modifiers; lists are already expanded by the loader);
- ``DnsNames`` resolves them with the system resolver (``getaddrinfo``: /etc/hosts, DNS, the
  node's search domains) on a daemon thread every ``interval`` seconds, with a bounded number
  of lookups in flight and a deadline per round, and publishes an ``ip -> frozenset(names)``
  map by swapping one reference, so the event path reads it with one dict lookup and no lock;
- an optional hosts(5)-format file (``yamori sensor --dns-hosts FILE``) maps names without
  asking any resolver, and its entries take precedence: air-gapped nodes, names only the
  cluster's DNS knows, and tests.

A name that fails to resolve maps to nothing; a lookup that misses the round's deadline keeps
the addresses of the previous round (a slow resolver must not make an address forget its name).
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from yamori.detect.compiler import CompiledRules
from yamori.detect.condition import Compare, ListValue, Literal, leaves

__all__ = ["NAME_FIELDS", "DnsNames", "canonical_ip", "parse_hosts", "rule_names"]

log = logging.getLogger(__name__)

NAME_FIELDS = frozenset({"fd.sip.name", "fd.cip.name", "fd.lip.name", "fd.rip.name"})
"""The fields whose values are names of an fd's addresses."""

Resolver = Callable[..., list[tuple[Any, ...]]]


def rule_names(compiled: CompiledRules, fields: frozenset[str] = NAME_FIELDS) -> frozenset[str]:
    """The literal names the syscall rules compare ``fields`` with: what must be resolved.

    A bare name left in a list is a literal (an undefined list), as the compiler treats it.
    """
    names: set[str] = set()
    for rule in compiled.rules:
        if rule.source != "syscall":
            continue
        for node in leaves(rule.condition):
            if isinstance(node, Compare) and node.field.name in fields:
                value = node.value
                if isinstance(value, Literal):
                    names.add(value.text)
                elif isinstance(value, ListValue):
                    names.update(i.text if isinstance(i, Literal) else i.name for i in value.items)
    names.discard("")
    return frozenset(names)


def canonical_ip(text: str) -> str | None:
    """``text`` as the fd table prints addresses (``inet_ntop``; IPv4-mapped IPv6 as IPv4), or
    None when it is not an address. Keys of the map must be spelled exactly like the table's."""
    text = text.split("%", 1)[0]  # fe80::1%eth0: the scope is not part of the fd's address
    try:
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text))
    except OSError:
        pass
    try:
        raw = socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        return None
    if raw[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.inet_ntop(socket.AF_INET, raw[12:])
    return socket.inet_ntop(socket.AF_INET6, raw)


def parse_hosts(text: str) -> dict[str, frozenset[str]]:
    """A hosts(5) file as ``ip -> names`` (canonical name and aliases; ``#`` starts a comment;
    lines whose first word is not an address are skipped, as the C library does)."""
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 2:
            continue
        ip = canonical_ip(words[0])
        if ip is not None:
            found.setdefault(ip, set()).update(words[1:])
    return {ip: frozenset(names) for ip, names in found.items()}


def _addresses(resolve: Resolver, name: str) -> frozenset[str]:
    """Every address the system resolver gives ``name`` (empty when it does not resolve)."""
    try:
        infos = resolve(name, None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):  # socket.gaierror is an OSError
        return frozenset()
    out = set()
    for info in infos:
        ip = canonical_ip(str(info[4][0]))
        if ip is not None:
            out.add(ip)
    return frozenset(out)


class DnsNames:
    """Names of addresses, refreshed in the background (see the module's docstring).

    ``names_of`` is the only call on the event path: a dict lookup on the current map, which
    the refresher replaces whole (one reference assignment, atomic in CPython), never edits.
    """

    def __init__(
        self,
        names: Iterable[str],
        hosts_file: Path | None = None,
        *,
        interval: float = 30.0,
        round_timeout: float = 10.0,
        workers: int = 4,
        max_names: int = 1024,
        resolve: Resolver = socket.getaddrinfo,
    ) -> None:
        # bounded: a rules file naming a million domains must not make the sensor a DNS flooder
        self.names = tuple(sorted(set(names)))[:max_names]
        self.hosts_file = hosts_file
        self.interval = interval
        self.round_timeout = round_timeout
        self.workers = max(1, workers)
        self._resolve = resolve
        self._map: Mapping[str, frozenset[str]] = {}
        self._hosts: dict[str, frozenset[str]] = {}
        self._hosts_mtime: int | None = None
        self._resolved: dict[str, frozenset[str]] = {}  # rule name -> its addresses (last round)
        self._refresh_lock = threading.Lock()
        self._busy_lock = threading.Lock()
        self._busy = 0  # lookups in flight, including ones stuck past an earlier deadline
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    # -- the event path

    def names_of(self, ip: str) -> frozenset[str] | None:
        """The names ``ip`` (as the fd table spells it) currently has, or None."""
        return self._map.get(ip)

    @property
    def mapping(self) -> Mapping[str, frozenset[str]]:
        """The current ``ip -> names`` map (a snapshot: it is never modified in place)."""
        return self._map

    # -- the refresher

    def start(self) -> None:
        """Apply the hosts file now (so its names hold from the first event), then resolve the
        rules' names on a daemon thread, now and every ``interval`` seconds."""
        with self._refresh_lock:
            self._load_hosts()
            self._publish()
        if self.names and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="yamori-dns", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop refreshing (a lookup stuck in the resolver is left to its daemon thread)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def refresh(self) -> None:
        """One round: re-read the hosts file, resolve the names it does not map, publish."""
        with self._refresh_lock:
            self._load_hosts()
            mapped = {n for names in self._hosts.values() for n in names}
            todo = [n for n in self.names if n not in mapped]
            resolved = self._resolve_all(todo)
            self._resolved = {n: resolved.get(n, self._resolved.get(n, frozenset())) for n in todo}
            self._publish()
            self.rounds += 1

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.refresh()
            except Exception:  # the refresher must outlive any surprise; the map stays as it was
                log.exception("DNS names refresh failed")
            self._stopping.wait(self.interval)

    def _load_hosts(self) -> None:
        if self.hosts_file is None:
            return
        try:
            mtime = self.hosts_file.stat().st_mtime_ns
            if mtime == self._hosts_mtime:
                return
            text = self.hosts_file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:  # keep the last good entries: a file being replaced is transient
            log.warning("cannot read the DNS hosts file %s: %s", self.hosts_file, exc)
            return
        self._hosts = parse_hosts(text)
        self._hosts_mtime = mtime

    def _publish(self) -> None:
        built: dict[str, set[str]] = {}
        for name, addresses in self._resolved.items():
            for ip in addresses:
                built.setdefault(ip, set()).add(name)
        for ip, names in self._hosts.items():
            built.setdefault(ip, set()).update(names)
        self._map = {ip: frozenset(names) for ip, names in built.items()}  # the atomic swap

    def _resolve_all(self, names: list[str]) -> dict[str, frozenset[str]]:
        """Resolve ``names`` on at most ``workers`` daemon threads until the round's deadline;
        names not answered by then are missing from the result (their old addresses stay)."""
        if not names:
            return {}
        work: queue.SimpleQueue[str] = queue.SimpleQueue()
        for name in names:
            work.put(name)
        results: dict[str, frozenset[str]] = {}
        lock = threading.Lock()
        finished = threading.Event()

        def worker() -> None:
            try:
                while not self._stopping.is_set():
                    try:
                        name = work.get_nowait()
                    except queue.Empty:
                        return
                    addresses = _addresses(self._resolve, name)
                    with lock:
                        results[name] = addresses
                        if len(results) == len(names):
                            finished.set()
            finally:
                with self._busy_lock:
                    self._busy -= 1

        with self._busy_lock:  # threads stuck in the resolver from earlier rounds count too
            spawn = min(self.workers - self._busy, len(names))
            self._busy += max(0, spawn)
        for _ in range(spawn):
            threading.Thread(target=worker, name="yamori-dns-lookup", daemon=True).start()
        deadline = time.monotonic() + self.round_timeout
        while spawn > 0 and not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or finished.wait(min(left, 0.2)):
                break
        with lock:
            return dict(results)
