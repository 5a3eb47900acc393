"""Tests for the Falco condition front end: real rules files, exact ASTs, and hostile input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from yamori.detect.condition import (
    And,
    Compare,
    ConditionSyntaxError,
    Exists,
    FieldRef,
    ListRef,
    ListValue,
    Literal,
    MacroRef,
    Node,
    Not,
    Or,
    ValRef,
    parse_condition,
    quote_value,
    referenced_names,
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "falco-rules"
CORPUS_FILES = sorted(CORPUS.glob("*.yaml")) if CORPUS.is_dir() else []


def F(name: str, arg: str | None = None, *transformers: str) -> FieldRef:
    return FieldRef(name, arg, tuple(transformers))


def cmp(field: str, op: str, value: str) -> Compare:
    return Compare(F(field), op, Literal(value))


# ---------------------------------------------------------------- corpus


def _items(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        docs = yaml.safe_load(fh) or []
    return [item for item in docs if isinstance(item, dict)]


@pytest.mark.skipif(not CORPUS_FILES, reason=f"Falco rules corpus not present at {CORPUS}")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_every_corpus_condition_parses(path: Path) -> None:
    conditions = 0
    list_items = 0
    failures: list[str] = []
    for item in _items(path):
        name = item.get("rule") or item.get("macro") or item.get("list")
        cond = item.get("condition")
        if isinstance(cond, str):
            conditions += 1
            try:
                parse_condition(cond)
            except ConditionSyntaxError as exc:
                failures.append(f"{name}: {exc}")
        items = item.get("items")
        if "list" in item and isinstance(items, list) and items:
            # The loader substitutes lists into conditions as text; check that round trip.
            texts = [str(i) for i in items if i is not None]
            list_items += len(texts)
            text = "x.y in (" + ", ".join(quote_value(t) for t in texts) + ")"
            try:
                node = parse_condition(text)
            except ConditionSyntaxError as exc:
                failures.append(f"list {name}: {exc}")
                continue
            assert isinstance(node, Compare) and isinstance(node.value, ListValue)
            got = [i.text if isinstance(i, Literal) else i.name for i in node.value.items]
            assert got == texts, name
    assert not failures, f"{len(failures)} of {conditions} conditions in {path.name} failed:\n" + "\n".join(
        failures
    )
    assert conditions > 0, f"no conditions found in {path.name}"
    print(f"{path.name}: {conditions} conditions and {list_items} list items parsed")


# ---------------------------------------------------------------- boolean structure


def test_precedence_and_binds_tighter_than_or() -> None:
    assert parse_condition("a or b and c") == Or((MacroRef("a"), And((MacroRef("b"), MacroRef("c")))))
    assert parse_condition("a and b or c") == Or((And((MacroRef("a"), MacroRef("b"))), MacroRef("c")))


def test_chains_are_flat() -> None:
    assert parse_condition("a or b or c") == Or((MacroRef("a"), MacroRef("b"), MacroRef("c")))
    assert parse_condition("a and b and c") == And((MacroRef("a"), MacroRef("b"), MacroRef("c")))


def test_not_binds_tightest() -> None:
    assert parse_condition("not a and b") == And((Not(MacroRef("a")), MacroRef("b")))
    assert parse_condition("not a or b") == Or((Not(MacroRef("a")), MacroRef("b")))
    assert parse_condition("a and not b") == And((MacroRef("a"), Not(MacroRef("b"))))
    assert parse_condition("not proc.name = x") == Not(cmp("proc.name", "=", "x"))


def test_not_forms() -> None:
    assert parse_condition("not(a)") == Not(MacroRef("a"))
    assert parse_condition("not not a") == Not(Not(MacroRef("a")))
    assert parse_condition("not (a or b)") == Not(Or((MacroRef("a"), MacroRef("b"))))
    # Keyword prefixes are identifiers, not keywords.
    assert parse_condition("notify or android") == Or((MacroRef("notify"), MacroRef("android")))


def test_parentheses_override_precedence() -> None:
    assert parse_condition("(a or b) and c") == And((Or((MacroRef("a"), MacroRef("b"))), MacroRef("c")))
    assert parse_condition("((a))") == MacroRef("a")
    assert parse_condition("(a)and(b)") == And((MacroRef("a"), MacroRef("b")))


def test_multiline_condition() -> None:
    text = "evt.type = execve\n  and (proc.name=sh\n       or proc.name = bash)"
    assert parse_condition(text) == And(
        (cmp("evt.type", "=", "execve"), Or((cmp("proc.name", "=", "sh"), cmp("proc.name", "=", "bash"))))
    )


# ---------------------------------------------------------------- operators and values


@pytest.mark.parametrize(
    "op",
    [
        "=",
        "==",
        "!=",
        "contains",
        "icontains",
        "bcontains",
        "startswith",
        "bstartswith",
        "endswith",
        "glob",
        "iglob",
        "regex",
        "pmatch",
    ],
)
def test_string_operators(op: str) -> None:
    assert parse_condition(f"fd.name {op} abc") == cmp("fd.name", op, "abc")
    assert parse_condition(f'fd.name {op} "a b"') == cmp("fd.name", op, "a b")


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_numeric_operators(op: str) -> None:
    assert parse_condition(f"fd.sport {op} 1024") == cmp("fd.sport", op, "1024")
    assert parse_condition(f"fd.sport{op}0x10") == cmp("fd.sport", op, "0x10")
    assert parse_condition(f"evt.latency {op} 1.5e3") == cmp("evt.latency", op, "1.5e3")


def test_operators_without_spaces() -> None:
    assert parse_condition("evt.type=execve") == cmp("evt.type", "=", "execve")
    assert parse_condition("evt.type!=execve") == cmp("evt.type", "!=", "execve")
    assert parse_condition("evt.rawres>=0") == cmp("evt.rawres", ">=", "0")


def test_numeric_operator_needs_number() -> None:
    with pytest.raises(ConditionSyntaxError, match="expected a number"):
        parse_condition("fd.sport < abc")


def test_in_and_intersects_lists() -> None:
    assert parse_condition('proc.name in (sh, "my shell", shell_binaries, /bin/x)') == Compare(
        F("proc.name"),
        "in",
        ListValue((ListRef("sh"), Literal("my shell"), ListRef("shell_binaries"), Literal("/bin/x"))),
    )
    assert parse_condition("ka.req.pod.volumes.hostpath intersects (sensitive_mounts)") == Compare(
        F("ka.req.pod.volumes.hostpath"), "intersects", ListValue((ListRef("sensitive_mounts"),))
    )
    assert parse_condition("proc.name in ()") == Compare(F("proc.name"), "in", ListValue(()))
    assert parse_condition("proc.name in(a,b)") == Compare(
        F("proc.name"), "in", ListValue((ListRef("a"), ListRef("b")))
    )


def test_list_reference_after_in_without_parentheses() -> None:
    assert parse_condition("proc.name in shell_binaries") == Compare(
        F("proc.name"), "in", ListValue((ListRef("shell_binaries"),))
    )


def test_list_items_with_brackets_and_colons_are_bare_values() -> None:
    node = parse_condition("proc.pname in (runc:[0:PARENT], docker-runc, 10.0.0.1)")
    assert node == Compare(
        F("proc.pname"),
        "in",
        ListValue((Literal("runc:[0:PARENT]"), Literal("docker-runc"), Literal("10.0.0.1"))),
    )


def test_pmatch_takes_a_list_or_a_value() -> None:
    assert parse_condition("fd.name pmatch (/etc, safe_dirs)") == Compare(
        F("fd.name"), "pmatch", ListValue((Literal("/etc"), ListRef("safe_dirs")))
    )
    assert parse_condition("fd.name pmatch /etc") == cmp("fd.name", "pmatch", "/etc")


def test_exists_is_postfix_unary() -> None:
    assert parse_condition("ct.error exists") == Exists(F("ct.error"))
    assert parse_condition("not ct.error exists and a") == And((Not(Exists(F("ct.error"))), MacroRef("a")))
    assert parse_condition("(container.id exists)") == Exists(F("container.id"))


def test_bare_value_stops_at_parenthesis_and_keeps_backslash() -> None:
    assert parse_condition("(proc.args endswith \\)") == cmp("proc.args", "endswith", "\\")


# ---------------------------------------------------------------- quoting


def test_quoted_strings_and_escapes() -> None:
    assert parse_condition("proc.cmdline = 'single q'") == cmp("proc.cmdline", "=", "single q")
    assert parse_condition(r'proc.cmdline = "say \"hi\""') == cmp("proc.cmdline", "=", 'say "hi"')
    assert parse_condition(r"proc.cmdline = 'it\'s'") == cmp("proc.cmdline", "=", "it's")
    assert parse_condition(r'proc.cmdline = "a\\b"') == cmp("proc.cmdline", "=", "a\\b")
    assert parse_condition(r'proc.cmdline = "t\tn\n"') == cmp("proc.cmdline", "=", "t\tn\n")
    # Unknown escapes keep their backslash (Falco's own rules write "\ " to mean backslash-space).
    assert parse_condition(r'proc.args contains "\ "') == cmp("proc.args", "contains", "\\ ")
    assert parse_condition("""proc.name = "it's" """) == cmp("proc.name", "=", "it's")
    assert parse_condition('proc.name = ""') == cmp("proc.name", "=", "")
    assert parse_condition('x.y = "a and b)"') == cmp("x.y", "=", "a and b)")


def test_quoted_list_items_are_always_literals() -> None:
    node = parse_condition("""proc.name in ("sh", 'bash', "a,b")""")
    assert node == Compare(F("proc.name"), "in", ListValue((Literal("sh"), Literal("bash"), Literal("a,b"))))


@pytest.mark.parametrize(
    "text", ["plain", "with space", 'q"uote', "back\\slash", "(paren)", "a,b", "x=y", ""]
)
def test_quote_value_round_trips(text: str) -> None:
    node = parse_condition(f"x.y = {quote_value(text)}")
    assert node == cmp("x.y", "=", text)


# ---------------------------------------------------------------- fields


def test_field_arguments() -> None:
    assert parse_condition("proc.aname[2]=sh") == Compare(F("proc.aname", "2"), "=", Literal("sh"))
    assert parse_condition("ka.req.pod.containers.image[0] startswith nginx") == Compare(
        F("ka.req.pod.containers.image", "0"), "startswith", Literal("nginx")
    )
    assert parse_condition('json.value[/userIdentity/type]="Root"') == Compare(
        F("json.value", "/userIdentity/type"), "=", Literal("Root")
    )
    assert parse_condition("ka.req.volume.hostpath['/var/run/docker.sock'] = true") == Compare(
        F("ka.req.volume.hostpath", "/var/run/docker.sock"), "=", Literal("true")
    )
    assert parse_condition("evt.arg.flags contains O_CREAT") == cmp("evt.arg.flags", "contains", "O_CREAT")


def test_field_positions_are_recorded() -> None:
    node = parse_condition("a and  fd.name = x")
    assert isinstance(node, And)
    compare = node.operands[1]
    assert isinstance(compare, Compare) and compare.field.pos == 7
    assert isinstance(node.operands[0], MacroRef) and node.operands[0].pos == 0


def test_transformers() -> None:
    assert parse_condition("tolower(proc.name) = bash") == Compare(
        F("proc.name", None, "tolower"), "=", Literal("bash")
    )
    # Application order: innermost first.
    assert parse_condition("toupper( tolower(fd.name) ) contains X") == Compare(
        F("fd.name", None, "tolower", "toupper"), "contains", Literal("X")
    )
    assert parse_condition("len(proc.aname[1]) > 3") == Compare(
        F("proc.aname", "1", "len"), ">", Literal("3")
    )
    assert parse_condition("basename(b64(evt.arg.data)) exists") == Exists(
        F("evt.arg.data", None, "b64", "basename")
    )


def test_val_on_the_right_side() -> None:
    assert parse_condition("proc.name = val(proc.pname)") == Compare(
        F("proc.name"), "=", ValRef(F("proc.pname"))
    )
    assert parse_condition("proc.pid > val( proc.ppid )") == Compare(
        F("proc.pid"), ">", ValRef(F("proc.ppid"))
    )
    assert parse_condition("proc.aname[1] = val(proc.aname[2])") == Compare(
        F("proc.aname", "1"), "=", ValRef(F("proc.aname", "2"))
    )
    # "val" alone is an ordinary bare value.
    assert parse_condition("x.y = val") == cmp("x.y", "=", "val")


def test_referenced_names() -> None:
    node = parse_condition(
        "spawned_process and not (proc.name in (sh, shell_binaries, '/x') or fd.name = val(proc.exe)) "
        "and proc.pname exists and user_known_x"
    )
    macros, lists, fields = referenced_names(node)
    assert macros == {"spawned_process", "user_known_x"}
    assert lists == {"sh", "shell_binaries"}
    assert fields == {"proc.name", "fd.name", "proc.exe", "proc.pname"}


# ---------------------------------------------------------------- errors


def _error(text: str, **kwargs: int) -> ConditionSyntaxError:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text, **kwargs)
    return info.value


def test_error_unbalanced_open_paren() -> None:
    err = _error("a and (b or c")
    assert "unbalanced '('" in str(err) and (err.line, err.column) == (1, 7)


def test_error_unbalanced_close_paren() -> None:
    err = _error("a and b)")
    assert "unbalanced ')'" in str(err) and err.column == 8


def test_error_missing_value() -> None:
    err = _error("proc.name =")
    assert "missing value after operator '='" in str(err) and err.column == 12
    err = _error("(proc.name contains )")
    assert "missing value after operator 'contains'" in err.reason and err.column == 21


def test_error_unknown_operator() -> None:
    err = _error("proc.name likes sh")
    assert "unknown operator 'likes'" in err.reason and err.column == 11
    err = _error("proc.name ~= sh")
    assert "unknown operator" in err.reason and err.column == 11


def test_error_missing_operator() -> None:
    err = _error("a and proc.name")
    assert "expected an operator after field 'proc.name'" in err.reason


def test_error_unterminated_string() -> None:
    err = _error('proc.name = "abc and x')
    assert "unterminated string" in str(err) and err.column == 13
    err = _error("x.y in ('a', 'b)")
    assert "unterminated string" in err.reason and err.column == 14


def test_error_line_and_column_on_later_line() -> None:
    err = _error("a and\n  (b or\n   proc.name ==)")
    assert (err.line, err.column) == (3, 16)
    assert "line 3, column 16" in str(err)


def test_error_bad_structure() -> None:
    assert "expected a condition" in _error("").reason
    assert "expected a condition" in _error("a and").reason
    assert "expected a condition" in _error("and a").reason
    assert "expected a condition" in _error("()").reason
    assert "expected 'and', 'or' or ')'" in _error("a b").reason
    assert "not a field name" in _error("name = x").reason
    assert "malformed argument" in _error("proc.aname[2 = x").reason
    assert "expected ')' to close transformer" in _error("tolower(proc.name = x").reason
    assert "expected ',' or ')'" in _error("x.y in (a b)").reason
    assert "not closed" in _error("x.y in (a, b").reason


@pytest.mark.parametrize(
    "text",
    [
        "(" * 5000 + "a" + ")" * 5000,
        "not " * 5000 + "a",
        "not(" * 3000 + "a" + ")" * 3000,
        "tolower(" * 5000 + "x.y" + ")" * 5000 + " = a",
        "(" * 100_000,
    ],
    ids=["parens", "nots", "not-parens", "transformers", "unclosed"],
)
def test_error_too_deep_nesting_is_a_syntax_error(text: str) -> None:
    err = _error(text)
    assert "nested deeper than 1000 levels" in err.reason


def test_nesting_up_to_the_limit_parses() -> None:
    node: Node = parse_condition("(" * 999 + "a" + ")" * 999)
    assert node == MacroRef("a")
    node = parse_condition("(" * 10 + "a" + ")" * 10, max_depth=10)
    assert node == MacroRef("a")
    assert "deeper than 9" in _error("(" * 10 + "a" + ")" * 10, max_depth=9).reason


def test_long_flat_chains_are_not_nesting() -> None:
    node = parse_condition(" or ".join(f"m{i}" for i in range(20_000)))
    assert isinstance(node, Or) and len(node.operands) == 20_000
    macros, _, _ = referenced_names(node)
    assert len(macros) == 20_000


def test_error_input_too_long() -> None:
    assert "longer than" in _error("a" * 101, max_length=100).reason
