"""Compiler: operators, lists, macros, exceptions, type checks, deep trees, the Falco corpus."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import pytest
from detect_dict_fields import CLASSES, DictEvent, compile_text, cond_rules

from yamori.detect.compiler import compile_ruleset, evttypes_of, unsafe_regex_reason
from yamori.detect.condition import parse_condition
from yamori.detect.fields.interface import Event, FieldClass, FieldInfo, FieldType
from yamori.detect.rules import Level, load_rules_files


def check(condition: str, values: dict[str, Any], prefix: str = "") -> bool:
    compiled = compile_text(cond_rules(condition, prefix=prefix))
    assert not compiled.errors, [str(m) for m in compiled.errors]
    assert len(compiled.rules) == 1
    return compiled.rules[0].evaluate(DictEvent(values))


def errors_of(condition: str, prefix: str = "") -> list[str]:
    compiled = compile_text(cond_rules(condition, prefix=prefix))
    assert not compiled.rules
    return [str(m) for m in compiled.errors]


OPERATOR_CASES = [
    ("d.s = abc", {"d.s": "abc"}, True),
    ("d.s == abc", {"d.s": "abcd"}, False),
    ("d.s != abc", {"d.s": "x"}, True),
    ("d.s != abc", {}, False),  # missing value: comparison false, even !=
    ("d.n = 5", {"d.n": 5}, True),
    ("d.n = 0x10", {"d.n": 16}, True),
    ("d.n < 5", {"d.n": 4}, True),
    ("d.n <= 5", {"d.n": 5}, True),
    ("d.n > 5", {"d.n": 5}, False),
    ("d.n >= 5", {"d.n": 6}, True),
    ("d.n in (1, 2, 3)", {"d.n": 2}, True),
    ("d.b = true", {"d.b": True}, True),
    ("d.b = false", {"d.b": True}, False),
    ("d.s contains bc", {"d.s": "abcd"}, True),
    ("d.s icontains BC", {"d.s": "abcd"}, True),
    ("d.s contains BC", {"d.s": "abcd"}, False),
    ("d.s startswith ab", {"d.s": "abcd"}, True),
    ("d.s endswith cd", {"d.s": "abcd"}, True),
    ("d.s endswith ab", {"d.s": "abcd"}, False),
    ("d.s bcontains 6263", {"d.s": "abcd"}, True),
    ("d.s bstartswith 6162", {"d.s": "abcd"}, True),
    ("d.s bstartswith 6263", {"d.s": "abcd"}, False),
    ("d.raw bcontains 00ff", {"d.raw": b"\x01\x00\xff"}, True),
    ("d.s glob 'a*d'", {"d.s": "a/b/c/d"}, True),  # no path flag: * matches /
    ("d.s glob 'a?c'", {"d.s": "abc"}, True),
    ("d.s glob 'A*'", {"d.s": "abc"}, False),
    ("d.s iglob 'A*'", {"d.s": "abc"}, True),
    ("d.s regex 'b.'", {"d.s": "abcd"}, False),  # whole value
    ("d.s regex 'a.*d'", {"d.s": "abcd"}, True),
    ("d.s regex '[a-c]+'", {"d.s": "abcd"}, False),
    ("d.path pmatch (/opt/dir)", {"d.path": "/opt/dir/x"}, True),
    ("d.path pmatch (/opt/dir)", {"d.path": "/opt/dir"}, True),
    ("d.path pmatch (/opt/di)", {"d.path": "/opt/dir/x"}, False),
    ("d.path pmatch (/etc, '/opt/*/bin')", {"d.path": "/opt/app/bin/x"}, True),
    ("d.path pmatch (/etc, '/opt/*/bin')", {"d.path": "/opt/app/lib/x"}, False),
    ("d.path pmatch /opt", {"d.path": "/opt/x"}, True),
    ("d.s in (a, b, 'c d')", {"d.s": "c d"}, True),
    ("d.s in (a, b)", {"d.s": "c"}, False),
    ("d.s intersects (a, b)", {"d.s": "a"}, True),
    ("d.l in (a, b, c)", {"d.l": ["a", "b"]}, True),  # every member in the set
    ("d.l in (a, c)", {"d.l": ["a", "b"]}, False),
    ("d.l intersects (b, z)", {"d.l": ["a", "b"]}, True),  # some member in the set
    ("d.l intersects (y, z)", {"d.l": ["a", "b"]}, False),
    ("d.l intersects (y, z)", {"d.l": []}, False),
    ("d.l contains bc", {"d.l": ["x", "abcd"]}, True),  # scalar ops: any member
    ("d.l = x", {"d.l": ["x", "y"]}, True),
    ("d.ip = 10.0.0.1", {"d.ip": "10.0.0.1"}, True),
    ("d.ip in (192.168.0.0/16, 10.0.0.0/8)", {"d.ip": "10.1.2.3"}, True),
    ("d.ip in (192.168.0.0/16)", {"d.ip": "10.1.2.3"}, False),
    ("d.s exists", {"d.s": ""}, True),
    ("d.s exists", {}, False),
    ("not d.s exists", {}, True),
    ("d.s contains x", {}, False),
    ("d.map[a.b] = v", {"d.map[a.b]": "v"}, True),
    ("d.idx[0] = v", {"d.idx[0]": "v"}, True),
    ("d.opt exists and d.opt[k] = v", {"d.opt": "1", "d.opt[k]": "v"}, True),
    ("tolower(d.s) = abc", {"d.s": "ABC"}, True),
    ("toupper(d.s) = ABC", {"d.s": "abc"}, True),
    ("toupper(tolower(d.s)) = ABC", {"d.s": "aBc"}, True),
    ("b64(d.s) = hello", {"d.s": "aGVsbG8="}, True),
    ("b64(d.s) = hello", {"d.s": "!!"}, False),
    ("basename(d.path) = sh", {"d.path": "/bin/sh"}, True),
    ("len(d.s) = 3", {"d.s": "abc"}, True),
    ("len(d.l) > 1", {"d.l": ["a", "b"]}, True),
    ("d.s = val(d.t)", {"d.s": "x", "d.t": "x"}, True),
    ("d.s = val(d.t)", {"d.s": "x", "d.t": "y"}, False),
    ("d.s = val(d.t)", {"d.s": "x"}, False),
    ("d.n < val(d.m)", {"d.n": 1, "d.m": 2}, True),
    ("d.s startswith val(d.t)", {"d.s": "abc", "d.t": "ab"}, True),
    ("d.s = a and (d.t = b or d.n = 1)", {"d.s": "a", "d.n": 1}, True),
    ("d.s = a or d.t = b and d.n = 1", {"d.t": "b"}, False),  # and binds tighter
    ("not not d.s = a", {"d.s": "a"}, True),
]


@pytest.mark.parametrize(("condition", "values", "expected"), OPERATOR_CASES)
def test_operators(condition: str, values: dict[str, Any], expected: bool) -> None:
    assert check(condition, values) is expected


LISTS = """
- list: shells
  items: [sh, bash]
- list: more_shells
  items: [shells, zsh, "fish shell", '"quoted"']
- list: nums
  items: [1, 2]
- list: empty
  items: []
"""


def test_list_substitution_nested_and_quoted() -> None:
    cond = "d.s in (more_shells)"
    for value in ("sh", "bash", "zsh", "fish shell", "quoted"):
        assert check(cond, {"d.s": value}, LISTS), value
    assert not check(cond, {"d.s": "more_shells"}, LISTS)
    assert not check(cond, {"d.s": "shells"}, LISTS)


def test_list_forms() -> None:
    assert check("d.s in shells", {"d.s": "bash"}, LISTS)
    assert check("d.n in (nums, 7)", {"d.n": 7}, LISTS)
    assert check("d.l intersects (shells)", {"d.l": ["x", "sh"]}, LISTS)
    assert not check("d.s in (empty)", {"d.s": ""}, LISTS)
    # an undefined name is a literal
    assert check("d.s in (nosuchlist, x)", {"d.s": "nosuchlist"}, LISTS)
    assert check("d.path pmatch (nosuch_dir)", {"d.path": "nosuch_dir/a"}, LISTS)


def test_list_referring_to_itself_does_not_hang() -> None:
    prefix = "- list: a\n  items: [b, x]\n- list: b\n  items: [a, y]\n"
    assert check("d.s in (a)", {"d.s": "y"}, prefix)
    assert check("d.s in (a)", {"d.s": "x"}, prefix)


MACROS = """
- macro: is_a
  condition: d.s = a
- macro: is_a_or_b
  condition: is_a or d.s in (b)
- macro: big
  condition: d.n > 10
"""


def test_macros() -> None:
    assert check("is_a_or_b", {"d.s": "b"}, MACROS)
    assert check("is_a_or_b and not big", {"d.s": "a", "d.n": 3}, MACROS)
    assert not check("is_a_or_b and not big", {"d.s": "a", "d.n": 30}, MACROS)


def test_macro_cycles_and_unknown_macros_are_errors() -> None:
    cyc = "- macro: m1\n  condition: m2 or d.s = x\n- macro: m2\n  condition: d.t = y and m1\n"
    msgs = errors_of("m1", cyc)
    assert any("macro cycle" in m for m in msgs), msgs
    self_ref = "- macro: m\n  condition: m\n"
    assert any("macro cycle: m -> m" in m for m in errors_of("m", self_ref))
    msgs = errors_of("no_such_macro and d.s = x")
    assert any("undefined macro 'no_such_macro'" in m for m in msgs)
    assert all("rules.yaml:" in m and "(r0)" in m for m in msgs)


def test_macro_defined_after_rule_is_visible_as_in_falco() -> None:
    text = cond_rules("late") + "\n- macro: late\n  condition: d.s = a\n"
    compiled = compile_text(text)
    assert not compiled.errors
    assert [r.name for r in compiled.rules] == ["r0"]


def test_macro_from_earlier_file_is_visible() -> None:
    compiled = compile_text(cond_rules("early"), "- macro: early\n  condition: d.s = a\n")
    assert not compiled.errors and len(compiled.rules) == 1


def test_unknown_field_error_names_rule_and_file_line() -> None:
    compiled = compile_text(cond_rules("d.s = a", "d.nope = a"))
    assert [r.name for r in compiled.rules] == ["r0"]  # the good rule still loads
    (err,) = compiled.errors
    assert err.item == "r1" and err.file == "rules.yaml" and err.line > 1
    assert "unknown field 'd.nope'" in err.text
    assert re.match(r"rules\.yaml:\d+:\d+: error: ", str(err))


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ("d.n contains 1", "operator 'contains' cannot be used with int64"),
        ("d.n = abc", "not a number"),
        ("d.b = maybe", "not a boolean"),
        ("d.s > 3", "cannot be used with string"),
        ("d.s bcontains zz", "not hex bytes"),
        ("d.b glob x", "cannot be used with bool"),
        ("d.map = x", "requires an argument"),
        ("d.s[1] = x", "does not take an argument"),
        ("d.idx[k] = x", "numeric index"),
        ("d.ip = nope", "not an IP address"),
        ("d.s regex '(a+)+$'", "nested quantifiers"),
        ("d.s regex '(a)\\\\1'", "backreferences"),
        ("d.s regex '(?=a)a'", "lookaround"),
        ("d.s regex '(unclosed'", "invalid regex"),
        ("d.s = ", "syntax error"),
        ("tolower(d.n) = x", "cannot apply"),
    ],
)
def test_type_and_operator_errors(condition: str, fragment: str) -> None:
    msgs = errors_of(condition)
    assert any(fragment in m for m in msgs), msgs


def test_unsafe_regex_detector() -> None:
    for bad in ("(a+)+", "(a*)*", "(?:x*y*)*", "(a|b+){2,}", "((ab)+c)*", "(.*a){20}"):
        assert unsafe_regex_reason(bad) is not None, bad
    for ok in ("a+b+", "(ab)+", "[(a+)]+", r"\(a+\)+", "(a|b)*c", "(a+)?", "x{1,3}"):
        assert unsafe_regex_reason(ok) is None, ok


EXC_LIST_FORM = """
- list: trusted
  items: [alice, bob]
- rule: r
  desc: d
  condition: d.s = hit
  output: o
  priority: ERROR
  source: dict
  exceptions:
    - name: pairs
      fields: [d.t, d.n]
      values:
        - [carol, 1]
        - [trusted, 2]
    - name: prefix
      fields: [d.path, d.t]
      comps: [startswith, in]
      values:
        - [/tmp/, [x, "y z"]]
        - [/var/, trusted]
"""


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"d.s": "hit", "d.t": "carol", "d.n": 1}, False),
        ({"d.s": "hit", "d.t": "carol", "d.n": 2}, True),
        ({"d.s": "hit", "d.t": "trusted", "d.n": 2}, False),  # a list name in '=' is a literal
        ({"d.s": "hit", "d.t": "alice", "d.n": 2}, True),
        ({"d.s": "hit", "d.path": "/tmp/a", "d.t": "y z"}, False),
        ({"d.s": "hit", "d.path": "/var/a", "d.t": "bob"}, False),  # list name after 'in'
        ({"d.s": "hit", "d.path": "/etc/a", "d.t": "bob"}, True),
        ({"d.s": "miss"}, False),
    ],
)
def test_exceptions_list_form(values: dict[str, Any], expected: bool) -> None:
    compiled = compile_text(EXC_LIST_FORM)
    assert not compiled.errors, [str(m) for m in compiled.errors]
    assert compiled.rules[0].evaluate(DictEvent(values)) is expected


EXC_SINGLE_FORM = """
- list: trusted
  items: [alice, bob]
- rule: r
  desc: d
  condition: d.s = hit or d.s = other
  output: o
  priority: ERROR
  source: dict
  exceptions:
    - name: users
      fields: d.t
      values: [trusted, carol]
    - name: paths
      fields: d.path
      comps: startswith
      values: [/tmp/, /run/]
"""


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"d.s": "hit", "d.t": "bob"}, False),
        ({"d.s": "other", "d.t": "carol"}, False),  # the or is kept inside parentheses
        ({"d.s": "other", "d.t": "dave"}, True),
        ({"d.s": "hit", "d.path": "/run/x"}, False),
        ({"d.s": "hit", "d.path": "/usr/x"}, True),
    ],
)
def test_exceptions_single_field_form(values: dict[str, Any], expected: bool) -> None:
    compiled = compile_text(EXC_SINGLE_FORM)
    assert not compiled.errors, [str(m) for m in compiled.errors]
    assert compiled.rules[0].evaluate(DictEvent(values)) is expected


def test_exception_with_unknown_field_is_an_error() -> None:
    text = EXC_SINGLE_FORM.replace("fields: d.t", "fields: d.zz")
    compiled = compile_text(text)
    assert not compiled.rules and any("unknown field 'd.zz'" in str(m) for m in compiled.errors)


def test_disabled_and_foreign_source_rules_are_skipped() -> None:
    text = cond_rules("d.s = a", "d.s = b").replace("source: dict\n", "source: dict\n  enabled: false\n", 1)
    text += "\n- rule: other\n  desc: d\n  condition: k.x = 1\n  output: o\n"
    text += "  priority: INFO\n  source: k8s_audit\n"
    compiled = compile_text(text)
    assert [r.name for r in compiled.rules] == ["r1"]
    assert not compiled.errors


def deep_condition(depth: int) -> str:
    return "not (" * depth + "d.s = a" + ")" * depth


@pytest.mark.parametrize("depth", [10, 149, 151, 499])
def test_deep_conditions_evaluate_without_recursion_errors(depth: int) -> None:
    expected = depth % 2 == 0
    assert check(deep_condition(depth), {"d.s": "a"}) is expected


def test_deep_macro_chain() -> None:
    # 3,000 macros each wrapping the previous: far deeper than nested Python calls allow.
    lines = ["- macro: m0\n  condition: d.s = a"]
    lines += [f"- macro: m{i}\n  condition: (d.n = {i} or not (m{i - 1}))" for i in range(1, 3000)]
    assert check("m2999", {"d.s": "a", "d.n": -1}, "\n".join(lines) + "\n") is False
    assert check("m2999", {"d.s": "b", "d.n": -1}, "\n".join(lines) + "\n") is True


def test_exponential_macro_expansion_is_refused() -> None:
    lines = ["- macro: m0\n  condition: d.s = a"]
    lines += [f"- macro: m{i}\n  condition: m{i - 1} and m{i - 1}" for i in range(1, 40)]
    msgs = errors_of("m39", "\n".join(lines) + "\n")
    assert any("more than" in m for m in msgs), msgs


def test_evttypes() -> None:
    def et(cond: str) -> tuple[set[str], bool]:
        t = evttypes_of(parse_condition(cond))
        return set(t.names), t.negated

    assert et("evt.type = open") == ({"open"}, False)
    assert et("evt.type in (open, openat) and proc.name = x") == ({"open", "openat"}, False)
    assert et("evt.type = open or evt.type = execve") == ({"open", "execve"}, False)
    assert et("evt.type = open or proc.name = x") == (set(), True)
    assert et("not evt.type = open") == ({"open"}, True)
    assert et("evt.type != open") == ({"open"}, True)
    assert et("not (evt.type = open and proc.name = x)") == (set(), True)
    assert et("not (evt.type != open or evt.type != connect)") == (set(), False)
    assert et("evt.type in (a, b) and not evt.type = b") == ({"a"}, False)


def test_no_evttype_warning_for_syscall_rules() -> None:
    text = (
        "- rule: s1\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n"
        "- rule: s2\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"
    )
    compiled = compile_text(text)
    assert [m.code for m in compiled.warnings] == ["LOAD_NO_EVTTYPE"]
    assert compiled.warnings[0].item == "s1"


# ---------------------------------------------------------------------------- Falco's rules files

CORPUS = Path("/work/shared/corpora/falco-rules")
_FIELD_RE = re.compile(r"\b((?:ka|jevt|ct|s3|json)\.[A-Za-z0-9_.]*[A-Za-z0-9_])")


class _PermissiveEvent(Event):
    source: ClassVar[str] = "any"

    def value(self, name: str, arg: str | None = None) -> Any:
        return None


def _permissive(source: str, names: set[str]) -> FieldClass:
    fields = {n: FieldInfo(n, FieldType.STRING, "", arg="optional-key") for n in names}

    class Permissive(FieldClass):
        def fields(self) -> dict[str, FieldInfo]:
            return fields

    Permissive.source = source
    return Permissive()


@pytest.mark.skipif(not CORPUS.is_dir(), reason="/work/shared corpus of Falco rules is absent")
@pytest.mark.parametrize(
    ("filename", "source"),
    [("k8s_audit_rules.yaml", "k8s_audit"), ("aws_cloudtrail_rules.yaml", "aws_cloudtrail")],
)
def test_falco_corpus_compiles(filename: str, source: str) -> None:
    path = CORPUS / filename
    names = set(_FIELD_RE.findall(path.read_text()))
    ruleset = load_rules_files([path])
    assert not ruleset.errors
    compiled = compile_ruleset(ruleset, {source: _permissive(source, names)})
    assert not compiled.errors, [str(m) for m in compiled.errors][:5]
    enabled = [r for r in ruleset.rules.values() if r.enabled and r.source == source]
    assert len(compiled.rules) == len(enabled) > 0
    for rule in compiled.rules:  # every missing field: comparisons false, never an exception
        rule.evaluate(_PermissiveEvent())
    assert not [m for m in compiled.messages if m.level is Level.ERROR]


def test_classes_fixture_is_sane() -> None:
    assert set(CLASSES) == {"dict", "syscall"}


# Falco 0.44 list modifiers: `field op anyof|oneof|allof (...)` (libs#2984).
MODIFIER_CASES = [
    ("d.s startswith anyof (my, bash)", {"d.s": "myexe"}, True),
    ("d.s startswith anyof (bash, sh)", {"d.s": "myexe"}, False),
    ("d.s startswith anyof (my, mye)", {"d.s": "myexe"}, True),
    ("d.s startswith oneof (my, bash)", {"d.s": "myexe"}, True),
    ("d.s startswith oneof (my, mye)", {"d.s": "myexe"}, False),  # two match: not exactly one
    ("d.s startswith allof (my, mye)", {"d.s": "myexe"}, True),
    ("d.s startswith allof (my, bash)", {"d.s": "myexe"}, False),
    ("d.s != allof (sshd, sudo)", {"d.s": "bash"}, True),
    ("d.s != allof (sshd, sudo)", {"d.s": "sudo"}, False),
    ("d.s != anyof (sshd, sudo)", {"d.s": "sudo"}, True),  # ORed inequalities, as Falco warns
    ("d.s contains allof (curl, ci.internal)", {"d.s": "curl https://ci.internal/x"}, True),
    ("d.s contains allof (curl, ci.internal)", {"d.s": "curl https://example.com"}, False),
    ("d.s regex anyof ('python[23]\\.[0-9]+', 'node[0-9]+')", {"d.s": "node18"}, True),
    ("d.s regex anyof ('python[23]\\.[0-9]+', 'node[0-9]+')", {"d.s": "node"}, False),
    ("d.n > anyof (10, 100)", {"d.n": 50}, True),
    ("d.n > allof (10, 100)", {"d.n": 50}, False),
    ("d.s = anyof ()", {"d.s": ""}, False),  # an empty list never matches
    ("d.s = anyof (a, b)", {}, False),  # no value: no match
    ("d.s = anyof (names)", {"d.s": "bob"}, True),  # list names are expanded
    ("d.l = anyof (a, b)", {"d.l": ["a"]}, True),  # a list field must hold exactly one value
    ("d.l = anyof (a, b)", {"d.l": ["a", "b"]}, False),
    ("d.s = anyof", {"d.s": "anyof"}, True),  # without a list after it, a plain value
]


@pytest.mark.parametrize(("condition", "values", "expected"), MODIFIER_CASES)
def test_list_modifiers(condition: str, values: dict[str, Any], expected: bool) -> None:
    prefix = "- list: names\n  items: [alice, bob]\n"
    assert check(condition, values, prefix=prefix) is expected


def test_list_modifier_type_errors() -> None:
    (message,) = errors_of("d.s < anyof (a, b)")
    assert "cannot be used with string field 'd.s'" in message
    (message,) = errors_of("d.n = anyof (1, x)")
    assert "'x' is not a number" in message


EXC_MODIFIER_FORM = """
- rule: r
  desc: d
  condition: d.s = hit
  output: o
  priority: ERROR
  source: dict
  exceptions:
    - name: prefixes
      fields: d.t
      comps: startswith anyof
      values: [kube-, etcd-]
    - name: both
      fields: [d.path]
      comps: [contains allof]
      values:
        - [[curl, ci.internal]]
"""


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"d.s": "hit", "d.t": "kube-proxy"}, False),
        ({"d.s": "hit", "d.t": "etcd-0"}, False),
        ({"d.s": "hit", "d.t": "nginx"}, True),
        ({"d.s": "hit", "d.t": "x", "d.path": "curl ci.internal"}, False),
        ({"d.s": "hit", "d.t": "x", "d.path": "curl other"}, True),
    ],
)
def test_exceptions_with_list_modifiers(values: dict[str, Any], expected: bool) -> None:
    compiled = compile_text(EXC_MODIFIER_FORM)
    assert not compiled.errors, [str(m) for m in compiled.errors]
    assert compiled.rules[0].evaluate(DictEvent(values)) is expected
