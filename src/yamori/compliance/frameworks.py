"""Compliance frameworks as data: ``frameworks/<id>.yaml`` lists a benchmark's controls.

Why data and not code: a framework is a catalogue (ids, titles, sections, profiles, whether the
benchmark calls a control automated or manual); policies cite controls by id in their
``compliance:`` mapping. Keeping the catalogue apart lets a report show every control of the
benchmark — including those no policy checks yet — with the benchmark's own titles.

Loading is strict, like policies: an unknown key or a wrong type is an error at ``file:line``,
so a typo (``assesment:``) never silently turns a manual control into an automated one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from yamori.policy.interface import PolicyError
from yamori.policy.yamlsrc import MarkedList, MarkedMap, load_yaml

__all__ = [
    "FRAMEWORKS_DIR",
    "Control",
    "Framework",
    "FrameworkError",
    "available_frameworks",
    "load_framework",
    "parse_framework",
]

FRAMEWORKS_DIR: Final = Path(__file__).parent / "frameworks"
_TOP_KEYS: Final = ("id", "title", "version", "provider", "description", "url", "controls")
_REQUIRED_TOP: Final = ("id", "title", "version", "provider", "controls")
_CONTROL_KEYS: Final = ("id", "title", "section", "profile", "assessment", "description")
_REQUIRED_CONTROL: Final = ("id", "title")
_ASSESSMENTS: Final = ("automated", "manual")

Assessment = Literal["automated", "manual"]


class FrameworkError(ValueError):
    """A framework file is missing or invalid; the message is one line (``file:line: …``)."""


@dataclass(frozen=True, slots=True)
class Control:
    id: str  # "1.4"
    title: str
    section: str = ""
    profile: str = ""  # "Level 1" | "Level 2" | ""
    assessment: Assessment = "automated"
    description: str = ""


@dataclass(frozen=True, slots=True)
class Framework:
    id: str  # "cis-aws-3.0": the key policies use in ``compliance:``
    title: str  # "CIS Amazon Web Services Foundations Benchmark"
    version: str  # "3.0.0"
    provider: str  # "aws"
    controls: tuple[Control, ...]
    description: str = ""
    url: str = ""

    @property
    def label(self) -> str:
        """Title with version, the way reports name the standard."""
        return f"{self.title} v{self.version}" if self.version else self.title

    def control(self, control_id: str) -> Control | None:
        return next((c for c in self.controls if c.id == control_id), None)


def _text(node: MarkedMap, key: str) -> str:
    value = node[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # 1.10 read as a float is 1.1: control ids and versions must be quoted.
        raise node.error(f"quote '{key}': {value!r} was read as a number", key)
    if not isinstance(value, str):
        raise node.error(f"'{key}' must be a string", key)
    return value


def _check_keys(node: MarkedMap, allowed: tuple[str, ...], required: tuple[str, ...], what: str) -> None:
    for key in node:
        if key not in allowed:
            raise node.error(f"unknown {what} key {key!r} (expected one of {', '.join(allowed)})", key)
    for key in required:
        if key not in node:
            raise node.error(f"{what} is missing required key '{key}'")


def _control(node: object, items: MarkedList, index: int) -> Control:
    if not isinstance(node, MarkedMap):
        raise items.error("each control must be a mapping", index)
    _check_keys(node, _CONTROL_KEYS, _REQUIRED_CONTROL, "control")
    assessment = _text(node, "assessment") if "assessment" in node else "automated"
    if assessment not in _ASSESSMENTS:
        raise node.error(f"'assessment' must be one of {', '.join(_ASSESSMENTS)}, got {assessment!r}")
    return Control(
        id=_text(node, "id"),
        title=_text(node, "title"),
        section=_text(node, "section") if "section" in node else "",
        profile=_text(node, "profile") if "profile" in node else "",
        assessment="manual" if assessment == "manual" else "automated",
        description=_text(node, "description") if "description" in node else "",
    )


def parse_framework(text: str, file: str = "<string>") -> Framework:
    """A framework from YAML text; raises :class:`FrameworkError` on the first problem."""
    try:
        doc = load_yaml(text, file)
        if not isinstance(doc, MarkedMap):
            raise PolicyError(file, 1, "a framework file is a mapping")
        _check_keys(doc, _TOP_KEYS, _REQUIRED_TOP, "framework")
        items = doc["controls"]
        if not isinstance(items, MarkedList):
            raise doc.error("'controls' must be a list", "controls")
        controls = [_control(node, items, i) for i, node in enumerate(items)]
        seen: set[str] = set()
        for control, node in zip(controls, items, strict=True):
            if control.id in seen:
                raise node.error(f"control {control.id!r} is listed twice")
            seen.add(control.id)
        return Framework(
            id=_text(doc, "id"),
            title=_text(doc, "title"),
            version=_text(doc, "version"),
            provider=_text(doc, "provider"),
            controls=tuple(controls),
            description=_text(doc, "description") if "description" in doc else "",
            url=_text(doc, "url") if "url" in doc else "",
        )
    except PolicyError as exc:
        raise FrameworkError(str(exc)) from None


def available_frameworks() -> list[str]:
    """Ids of the shipped frameworks (file names without ``.yaml``), sorted."""
    if not FRAMEWORKS_DIR.is_dir():
        return []
    return sorted(p.stem for p in FRAMEWORKS_DIR.glob("*.yaml"))


def load_framework(framework_id: str) -> Framework:
    """The shipped framework ``framework_id`` (e.g. ``cis-aws-3.0``).

    The id must also be the file's ``id:``: policies cite the framework by that key, and a file
    renamed without its id would silently match nothing.
    """
    path = FRAMEWORKS_DIR / f"{framework_id}.yaml"
    if "/" in framework_id or not path.is_file():
        known = ", ".join(available_frameworks()) or "none installed"
        raise FrameworkError(f"unknown framework {framework_id!r} (available: {known})")
    framework = parse_framework(path.read_text(encoding="utf-8"), str(path))
    if framework.id != framework_id:
        raise FrameworkError(f"{path}: 'id' is {framework.id!r}, expected {framework_id!r}")
    return framework
