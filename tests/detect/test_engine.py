"""Engine: per-source indexing, evt.type narrowing, load order, first/all matching."""

from __future__ import annotations

from detect_dict_fields import DictEvent, SysEvent, compile_text, cond_rules

from yamori.detect.compiler import CompiledRules
from yamori.detect.engine import Engine
from yamori.detect.fields.interface import Event


def _sys_rules(*pairs: tuple[str, str]) -> CompiledRules:
    text = "".join(
        f"- rule: {name}\n  desc: d\n  condition: {cond!r}\n  output: 'p=%proc.name'\n  priority: NOTICE\n"
        for name, cond in pairs
    )
    compiled = compile_text(text)
    assert not compiled.errors, [str(m) for m in compiled.errors]
    return compiled


def names(engine: Engine, event: Event) -> list[str]:
    return [a.rule for a in engine.process(event)]


def test_first_and_all() -> None:
    compiled = compile_text(cond_rules("d.s = a", "d.s startswith a", "d.s = b"))
    event = DictEvent({"d.s": "a"})
    assert names(Engine(compiled), event) == ["r0"]
    assert names(Engine(compiled, "all"), event) == ["r0", "r1"]
    assert names(Engine(compiled, "all"), DictEvent({"d.s": "b"})) == ["r2"]
    assert names(Engine(compiled, "all"), DictEvent({})) == []


def test_bad_rule_matching_value() -> None:
    compiled = compile_text(cond_rules("d.s = a"))
    try:
        Engine(compiled, "some")  # type: ignore[arg-type]
    except ValueError:
        pass
    else:
        raise AssertionError("expected ValueError")


def test_only_rules_of_the_event_source_run() -> None:
    compiled = compile_text(cond_rules("d.s = a") + "\n" + _rules_text_sys())
    engine = Engine(compiled, "all")
    assert names(engine, DictEvent({"d.s": "a", "proc.name": "x"})) == ["r0"]
    assert names(engine, SysEvent({"evt.type": "open", "proc.name": "x", "d.s": "a"})) == ["sys"]
    assert engine.sources == {"dict", "syscall"}


def _rules_text_sys() -> str:
    return (
        "- rule: sys\n  desc: d\n  condition: evt.type = open and proc.name = x\n"
        "  output: o\n  priority: INFO\n"
    )


def test_evttype_index_narrows_and_orders() -> None:
    compiled = _sys_rules(
        ("any_first", "proc.name = x"),
        ("open_only", "evt.type = open and proc.name = x"),
        ("exec_only", "evt.type in (execve, execveat) and proc.name = x"),
        ("not_open", "evt.type != open and proc.name = x"),
    )
    types = {r.name: (set(r.evttypes.names), r.evttypes.negated) for r in compiled.rules}
    assert types["open_only"] == ({"open"}, False)
    assert types["not_open"] == ({"open"}, True)
    engine = Engine(compiled, "all")
    # typed rules first, then all-type rules, each in load order
    assert names(engine, SysEvent({"evt.type": "open", "proc.name": "x"})) == ["open_only", "any_first"]
    assert names(engine, SysEvent({"evt.type": "execve", "proc.name": "x"})) == [
        "exec_only",
        "any_first",
        "not_open",
    ]
    assert names(engine, SysEvent({"evt.type": "connect", "proc.name": "x"})) == ["any_first", "not_open"]
    assert names(Engine(compiled), SysEvent({"evt.type": "open", "proc.name": "x"})) == ["open_only"]


def test_evttype_narrowing_never_skips_a_matching_rule() -> None:
    compiled = _sys_rules(("r", "evt.type = open or proc.name = y"))
    engine = Engine(compiled)
    assert names(engine, SysEvent({"evt.type": "close", "proc.name": "y"})) == ["r"]
    assert names(engine, SysEvent({"evt.type": "open", "proc.name": "z"})) == ["r"]


class _Exploding(DictEvent):
    def value(self, name: str, arg: str | None = None) -> object:
        if name == "d.t":
            raise RuntimeError("extractor bug")
        return super().value(name, arg)


def test_rule_that_raises_is_counted_not_fatal() -> None:
    compiled = compile_text(cond_rules("d.t = a", "d.s = a"))
    engine = Engine(compiled)
    assert names(engine, _Exploding({"d.s": "a"})) == ["r1"]
    assert engine.errors == 1


def test_alert_contents() -> None:
    text = (
        "- rule: Hit\n  desc: d\n  condition: d.s = a\n  output: 's=%d.s n=%d.n'\n"
        "  priority: warning\n  source: dict\n  tags: [t1, t2]\n"
    )
    engine = Engine(compile_text(text))
    (alert,) = engine.process(DictEvent({"d.s": "a"}, time_ns=1_700_000_000_123_456_789))
    assert alert.rule == "Hit" and alert.priority == "Warning" and alert.source == "dict"
    assert alert.output == "s=a n=<NA>"
    assert alert.output_fields == {"d.s": "a", "d.n": None}
    assert alert.tags == ("t1", "t2")
    assert alert.time == 1_700_000_000_123_456_789


def test_engine_from_plain_rule_list() -> None:
    compiled = compile_text(cond_rules("d.s = a"))
    assert names(Engine(compiled.rules), DictEvent({"d.s": "a"})) == ["r0"]


def test_index_on_two_fields_keeps_load_order_and_never_narrows_on_a_missing_value() -> None:
    """k8s-style sources: index on several string fields; candidates stay in load order."""
    from yamori.detect.compiler import compile_ruleset
    from yamori.detect.fields.interface import FieldClass, FieldInfo, FieldType
    from yamori.detect.rules import read_rules_text
    from yamori.detect.rules.collector import collect

    class TwoFields(FieldClass):
        source = "dict"
        index_fields = ("d.s", "d.t")

        def fields(self) -> dict[str, FieldInfo]:
            return {n: FieldInfo(n, FieldType.STRING, n) for n in ("d.s", "d.t", "d.path")}

    rules = [
        ("any", "d.path = p"),
        ("s_a", "d.s = a and d.path = p"),
        ("s_a_t_x", "d.s in (a, b) and d.t = x and d.path = p"),
        ("not_t_x", "not d.t != x and d.path = p"),  # true when d.t is missing, though its set is {x}
        ("s_not_a", "d.s != a and d.path = p"),
    ]
    text = "\n".join(
        f"- rule: {name}\n  desc: d\n  condition: {cond}\n  output: o\n  priority: INFO\n  source: dict\n"
        for name, cond in rules
    )
    compiled = compile_ruleset(collect([read_rules_text(text, "r.yaml")]), {"dict": TwoFields()})
    assert not compiled.errors
    engine = Engine(compiled, "all")
    assert names(engine, DictEvent({"d.s": "a", "d.t": "x", "d.path": "p"})) == [
        "any",
        "s_a",
        "s_a_t_x",
        "not_t_x",
    ]
    assert names(engine, DictEvent({"d.s": "b", "d.t": "y", "d.path": "p"})) == ["any", "s_not_a"]
    # d.t missing: `not d.t != x` is true, so the index must not drop it
    assert names(engine, DictEvent({"d.s": "b", "d.path": "p"})) == ["any", "not_t_x", "s_not_a"]
    assert names(Engine(compiled), DictEvent({"d.s": "a", "d.t": "x", "d.path": "p"})) == ["any"]
