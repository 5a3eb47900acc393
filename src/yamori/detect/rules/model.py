"""Typed items of a Falco rules file, and what the collector hands to the compiler.

Conditions and outputs stay strings here: parsing them is the job of ``detect/condition``. Every
item carries the file:line it came from so any later stage can point a user at the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TypeAlias

# The rules-format level yamori implements, on Falco's engine-version scale. Falco compares a
# file's ``required_engine_version`` with its own engine version (a semver since Falco 0.37; bare
# integers N mean 0.N.0). The Falco rules files yamori is tested against (falco_rules.yaml and
# friends, as shipped alongside Falco 0.44) require 0.57.0, and yamori implements the format and
# condition language at that level, so this is the version we claim. Raise it only together with
# support for whatever the newer Falco engine added.
ENGINE_VERSION: tuple[int, int, int] = (0, 57, 0)

# Plugins whose fields yamori implements natively: a rules file that requires any version of these
# loads without complaint. "json" is included because the cloudtrail rules use its
# ``json.value[...]`` field, which yamori's aws_cloudtrail source provides; "container" because
# the sensor's syscall source fills the container plugin's ``container.*`` fields itself.
NATIVE_PLUGINS: frozenset[str] = frozenset({"k8saudit", "cloudtrail", "json", "container"})


class Level(StrEnum):
    """Severity of a load message; any error means the rule set must not be used."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Position:
    """Where something starts in a rules file (1-based line and column, like an editor shows)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class LoadMessage:
    """One load-time error or warning, pinned to file:line so the user can fix the source."""

    level: Level
    file: str
    line: int
    column: int
    code: str
    text: str
    item: str | None = None

    def __str__(self) -> str:
        where = f" ({self.item})" if self.item else ""
        return f"{self.file}:{self.line}:{self.column}: {self.level}: {self.text}{where} [{self.code}]"


class Priority(IntEnum):
    """Falco's priorities; lower value is more severe, as in syslog, so ``<=`` filters by floor."""

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFORMATIONAL = 6
    DEBUG = 7

    @classmethod
    def parse(cls, text: str) -> Priority | None:
        """Case-insensitive name, ``Info`` accepted; None when unknown so callers report it."""
        key = text.strip().upper()
        if key == "INFO":
            return cls.INFORMATIONAL
        return cls.__members__.get(key)

    @property
    def label(self) -> str:
        """The spelling Falco prints in alerts (``Warning``, ``Informational``)."""
        return self.name.capitalize()


# An exception value is a plain string, or a parenthesised list of strings for comps like ``in``.
ExceptionValue: TypeAlias = str | list[str]
# One entry of ``values``: a row (list-of-fields form) or a plain string (single-field form).
ExceptionEntry: TypeAlias = str | list[ExceptionValue]


@dataclass(slots=True)
class RuleException:
    """One entry of a rule's ``exceptions`` (named ``RuleException`` to keep the builtin usable).

    ``fields`` as a list: ``comps`` is one operator per field and each value is a row (tuple) with
    one entry per field. ``fields`` as one string: ``comps`` is one operator and ``values`` is a
    flat list. ``fields``/``comps`` are None only in an appended exception that names an existing
    one (it adds values only); the collector fills them in, so merged rules never carry None.
    """

    name: str
    fields: list[str] | str | None
    comps: list[str] | str | None
    values: list[ExceptionEntry]
    position: Position


@dataclass(slots=True)
class ListItem:
    """A named list of strings, substituted into conditions as text."""

    name: str
    items: list[str]
    position: Position
    append: bool = False
    override: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class MacroItem:
    """A named condition fragment, resolved on the AST by the compiler."""

    name: str
    condition: str
    position: Position
    append: bool = False
    override: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RuleItem:
    """A rule as written (reader) or as merged (collector).

    ``keys`` records which keys the item actually gave, so the collector knows what an append,
    override or enable-only item changes; defaults fill the rest.
    """

    name: str
    position: Position
    desc: str = ""
    condition: str = ""
    output: str = ""
    priority: Priority = Priority.DEBUG
    enabled: bool = True
    tags: list[str] = field(default_factory=list)
    source: str = "syscall"
    exceptions: list[RuleException] = field(default_factory=list)
    warn_evttypes: bool = True
    skip_if_unknown_filter: bool = False
    capture: bool = False
    capture_duration: int = 0
    append: bool = False
    override: dict[str, str] = field(default_factory=dict)
    keys: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PluginRequirement:
    """A ``required_plugin_versions`` entry: a plugin and its accepted alternatives."""

    name: str
    version: str
    alternatives: tuple[tuple[str, str], ...]
    position: Position


@dataclass(frozen=True, slots=True)
class EngineRequirement:
    """A ``required_engine_version`` item, normalised to a semver triple."""

    version: tuple[int, int, int]
    position: Position


Item: TypeAlias = ListItem | MacroItem | RuleItem | PluginRequirement | EngineRequirement


@dataclass(slots=True)
class RulesFile:
    """What the reader makes of one file: its items in order, and messages about it."""

    path: str
    items: list[Item]
    messages: list[LoadMessage]

    @property
    def errors(self) -> list[LoadMessage]:
        return [m for m in self.messages if m.level is Level.ERROR]


@dataclass(slots=True)
class RuleSet:
    """The merged result of loading files in order; dict order is first-definition order."""

    lists: dict[str, ListItem]
    macros: dict[str, MacroItem]
    rules: dict[str, RuleItem]
    messages: list[LoadMessage]
    plugin_requirements: list[PluginRequirement] = field(default_factory=list)

    @property
    def errors(self) -> list[LoadMessage]:
        return [m for m in self.messages if m.level is Level.ERROR]

    @property
    def warnings(self) -> list[LoadMessage]:
        return [m for m in self.messages if m.level is Level.WARNING]

    @property
    def ok(self) -> bool:
        """True when nothing went wrong: the compiler may run."""
        return not self.errors
