"""The contract between event sources and the rule compiler: named fields with types.

Falco's sources expose fields by name (`ka.verb`, `ct.name`, `proc.name`); a rule's condition
and output refer only to those names. A source declares its fields once (`FieldClass`), and each
event answers `value(name, arg)` for a declared field — so the compiler can type-check operators
at load time and the engine never parses anything per event.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar


class FieldType(StrEnum):
    """Value types, as Falco's field tables name them (what the operators are checked against)."""

    STRING = "string"
    INT = "int64"
    UINT = "uint64"
    BOOL = "bool"
    STRINGS = "list"  # a list of strings (`in`, `intersects`, `contains` apply to members)
    IPADDR = "ipaddr"
    IPNET = "ipnet"  # an address compared against networks: `fd.net = "10.0.0.0/8"` (membership)
    BYTES = "bytebuf"


class Either(tuple[Any, ...]):
    """A value naming both ends of something (Falco's filter-only ``fd.ip``, ``fd.port``,
    ``fd.net``): ``=``/``in`` hold when one member matches, ``!=`` when every member differs."""

    __slots__ = ()


class OneOf(list[Any]):
    """Several values of one thing, any of which may match (the names DNS gives one IP for
    ``fd.sip.name``): an ``any_element`` field's candidates that an output renders as ONE value
    (the first), the way Falco prints one name, where other candidate lists print as ``(a,b)``."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str  # e.g. "ka.req.pod.containers.image"
    type: FieldType
    description: str
    arg: str = "none"  # "none" | "index" (a number) | "key" (a string) | "optional-index" | "optional-key"
    # Without an argument the value is a list and a comparison holds when it holds for ANY
    # element, whatever the operator (Falco's `proc.aname=bash`: some ancestor is bash). With an
    # argument the value is one element (`proc.aname[2]`).
    any_element: bool = False


class Event(ABC):
    """One observation from a source; fields are computed on demand (most are never asked for).

    ``memo`` caches field values for the life of the event: the compiled rules of one source ask
    for the same few fields again and again (every k8s audit rule reads ``ka.verb``), and a
    lookup in a small dict is cheaper than walking the JSON again.
    """

    source: ClassVar[str]
    __slots__ = ("memo",)
    memo: dict[tuple[str, str | None], Any]

    @abstractmethod
    def value(self, name: str, arg: str | None = None) -> Any:
        """The field's value, or None when the event has no value for it (prints `<NA>`).

        Types follow `FieldInfo.type`: str, int, bool, list[str]. Unknown names raise KeyError
        (the compiler has already rejected conditions that use them).
        """

    def time_ns(self) -> int:
        """Event time in nanoseconds since the epoch (for `evt.time` and alert output)."""
        return 0


class FieldClass(ABC):
    """All fields of one source (`k8s_audit`, `aws_cloudtrail`, `syscall`)."""

    source: ClassVar[str]
    # String fields nearly every rule of this source narrows with `=`/`in` (`evt.type` for
    # syscalls, `ka.verb` for audit events): the engine indexes rules by their values, so an
    # event only meets the rules that can match it. The first one also orders candidates the
    # way Falco does when it is `evt.type`.
    index_fields: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def fields(self) -> dict[str, FieldInfo]:
        """Every field name this source defines, with its type and argument kind."""


_MISSING: Any = object()


def cached_value(event: Event, name: str, arg: str | None = None) -> Any:
    """``event.value(name, arg)``, computed once per event (kept in ``event.memo``).

    The compiler's hottest predicates inline the same lookup to save a call per leaf.
    """
    try:
        memo = event.memo
    except AttributeError:  # an Event subclass that did not set it up
        memo = event.memo = {}
    key = (name, arg)
    value = memo.get(key, _MISSING)
    if value is _MISSING:
        value = memo[key] = event.value(name, arg)
    return value
