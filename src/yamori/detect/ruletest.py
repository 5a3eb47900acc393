"""Rule tests: events paired with the rules they must (and must not) trigger.

Falco has no standard format for this, so yamori defines a small YAML one that a rules author
keeps next to the rules (``yamori rules test --rules R.yaml TESTS.yaml``)::

    tests:
      - name: privileged pod is created
        source: k8s_audit             # a source yamori knows (see detect/sources.py)
        event: {...}                  # one event as JSON/YAML; or
        # events: [{...}, {...}]      # several, evaluated in order; or
        # event_file: pod.json        # a file beside the tests: one object, an EventList,
        #                             # CloudTrail {"Records": [...]}, or JSON lines
        expect: [Create Privileged Pod]       # each must fire (on any of the events)
        expect_not: [Create HostNetwork Pod]  # none of these may fire
        exact: false                  # true: nothing but `expect` may fire
        output:                       # optional: the exact Falco output text of a rule
          Create Privileged Pod: "Pod started with privileged container (...)"

A top-level list of cases is accepted too. Every key is checked (an unknown key is an error,
so a typo cannot turn a test into one that always passes), and every rule a case names must
exist in the loaded rules. Rules run with ``rule_matching: all`` so one rule cannot hide another.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from yamori.detect.compiler import CompiledRules
from yamori.detect.engine import Engine
from yamori.detect.fields.interface import Event
from yamori.detect.sources import SOURCES, event_from_json

__all__ = ["CaseResult", "RuleTestCase", "RuleTestError", "load_rule_tests", "run_rule_tests"]

_CASE_KEYS = frozenset(
    {"name", "source", "event", "events", "event_file", "expect", "expect_not", "exact", "output"}
)
MAX_EVENT_FILE = 256 * 1024 * 1024


class RuleTestError(Exception):
    """A test file that cannot be used (``file:line: message``)."""


@dataclass(frozen=True, slots=True)
class RuleTestCase:
    name: str
    source: str
    events: tuple[dict[str, Any], ...]
    expect: tuple[str, ...]
    expect_not: tuple[str, ...]
    exact: bool
    output: Mapping[str, str]
    where: str  # "file:line"


@dataclass(slots=True)
class CaseResult:
    case: RuleTestCase
    fired: list[str] = field(default_factory=list)  # rule names in firing order, unique
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _names(value: Any, key: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise RuleTestError(f"{where}: '{key}' must be a rule name or a list of rule names")


def _events_of_doc(source: str, doc: Any, where: str) -> list[dict[str, Any]]:
    """Events in one parsed document: the wrappers the inputs accept are unwrapped here too."""
    if isinstance(doc, list):
        return [e for d in doc for e in _events_of_doc(source, d, where)]
    if not isinstance(doc, dict):
        raise RuleTestError(f"{where}: an event must be a JSON object")
    if isinstance(doc.get("Records"), list):
        items: list[Any] = doc["Records"]
    elif doc.get("kind") == "EventList" and isinstance(doc.get("items"), list):
        items = doc["items"]
    else:
        return [doc]
    if not all(isinstance(i, dict) for i in items):
        raise RuleTestError(f"{where}: every event must be a JSON object")
    return list(items)


def _read_event_file(path: Path, source: str, where: str) -> list[dict[str, Any]]:
    try:
        if path.stat().st_size > MAX_EVENT_FILE:
            raise RuleTestError(f"{where}: event_file {path} is larger than {MAX_EVENT_FILE} bytes")
        text = path.read_bytes()
    except OSError as exc:
        raise RuleTestError(f"{where}: cannot read event_file: {exc}") from None
    if path.name.endswith(".gz"):
        import gzip

        try:
            text = gzip.decompress(text)
        except (OSError, EOFError) as exc:
            raise RuleTestError(f"{where}: event_file {path}: {exc}") from None
    try:
        return _events_of_doc(source, json.loads(text), where)
    except ValueError:
        pass
    events: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError):
            raise RuleTestError(f"{where}: event_file {path}:{number} is not JSON") from None
        events.extend(_events_of_doc(source, doc, where))
    return events


def _case(node: yaml.Node, data: Any, path: Path) -> RuleTestCase:
    where = f"{path}:{node.start_mark.line + 1}"
    if not isinstance(data, dict):
        raise RuleTestError(f"{where}: a test case must be a mapping")
    unknown = sorted(str(k) for k in data if k not in _CASE_KEYS)
    if unknown:
        raise RuleTestError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_CASE_KEYS))})"
        )
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise RuleTestError(f"{where}: 'name' is required")
    source = data.get("source")
    if source not in SOURCES:
        raise RuleTestError(f"{where}: 'source' must be one of {', '.join(SOURCES)}, not {source!r}")
    given = [k for k in ("event", "events", "event_file") if k in data]
    if len(given) != 1:
        raise RuleTestError(f"{where}: give exactly one of event, events, event_file")
    if "event" in data:
        events = _events_of_doc(source, data["event"], where)
        if isinstance(data["event"], list):
            raise RuleTestError(f"{where}: 'event' is one object; use 'events' for a list")
    elif "events" in data:
        if not isinstance(data["events"], list):
            raise RuleTestError(f"{where}: 'events' must be a list")
        events = _events_of_doc(source, data["events"], where)
    else:
        if not isinstance(data["event_file"], str):
            raise RuleTestError(f"{where}: 'event_file' must be a path")
        events = _read_event_file(path.parent / data["event_file"], source, where)
    if not events:
        raise RuleTestError(f"{where}: no events")
    expect = _names(data.get("expect"), "expect", where)
    expect_not = _names(data.get("expect_not"), "expect_not", where)
    exact = data.get("exact", False)
    if not isinstance(exact, bool):
        raise RuleTestError(f"{where}: 'exact' must be true or false")
    output = data.get("output") or {}
    if not isinstance(output, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in output.items()
    ):
        raise RuleTestError(f"{where}: 'output' maps rule names to output text")
    if not expect and not expect_not and not exact:
        raise RuleTestError(f"{where}: the case asserts nothing (give expect, expect_not or exact: true)")
    both = set(expect) & set(expect_not)
    if both:
        raise RuleTestError(f"{where}: {', '.join(sorted(both))} both expected and not expected")
    return RuleTestCase(name, source, tuple(events), expect, expect_not, exact, dict(output), where)


def load_rule_tests(path: str | Path) -> list[RuleTestCase]:
    """The cases of one test file, validated; ``RuleTestError`` names the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleTestError(f"{path}: cannot read: {exc}") from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise RuleTestError(f"{path}: empty test file")
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise RuleTestError(f"{path}: invalid YAML: {exc}".replace("\n", " ")) from None
    finally:
        loader.dispose()
    case_nodes: Any = root
    if isinstance(data, dict):
        if set(data) != {"tests"}:
            raise RuleTestError(f"{path}: a test file is a list of cases or a mapping with only 'tests'")
        data = data["tests"]
        case_nodes = next(v for k, v in root.value if getattr(k, "value", None) == "tests")
    if not isinstance(data, list) or not isinstance(case_nodes, yaml.SequenceNode):
        raise RuleTestError(f"{path}: 'tests' must be a list of cases")
    return [_case(node, item, path) for node, item in zip(case_nodes.value, data, strict=True)]


def _run_case(engine: Engine, case: RuleTestCase, rule_names: set[str]) -> CaseResult:
    result = CaseResult(case)
    for name in (*case.expect, *case.expect_not, *case.output):
        if name not in rule_names:
            result.problems.append(f"names rule {name!r}, which is not loaded (or not enabled)")
    if result.problems:
        return result
    texts: dict[str, list[str]] = {}
    for doc in case.events:
        event: Event = event_from_json(case.source, doc)
        for alert in engine.process(event):
            if alert.rule not in texts:
                result.fired.append(alert.rule)
            texts.setdefault(alert.rule, []).append(alert.output)
    fired = set(result.fired)
    for name in case.expect:
        if name not in fired:
            result.problems.append(f"expected {name!r} to fire; it did not")
    for name in case.expect_not:
        if name in fired:
            result.problems.append(f"{name!r} fired but must not")
    if case.exact:
        for name in result.fired:
            if name not in case.expect:
                result.problems.append(f"{name!r} fired but is not in expect (exact)")
    for name, text in case.output.items():
        got = texts.get(name)
        if got is not None and text not in got:
            result.problems.append(
                f"{name!r} output differs:\n      expected: {text}\n      actual:   {got[0]}"
            )
        elif got is None and name not in case.expect:
            result.problems.append(f"output given for {name!r}, which did not fire")
    return result


def run_rule_tests(compiled: CompiledRules, cases: Iterable[RuleTestCase]) -> list[CaseResult]:
    """Run every case against ``compiled`` (``rule_matching: all``)."""
    engine = Engine(compiled, rule_matching="all")
    names = {rule.name for rule in compiled.rules}
    return [_run_case(engine, case, names) for case in cases]


def summarize(results: Sequence[CaseResult]) -> str:
    failed = sum(1 for r in results if not r.passed)
    return f"{len(results) - failed} passed, {failed} failed"
