"""The rules-file reader and collector: Falco's shipped files, merge semantics, bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from yamori.detect.rules import (
    ENGINE_VERSION,
    Level,
    LoadMessage,
    Priority,
    RuleSet,
    collect,
    load_rules_files,
    read_rules_file,
    read_rules_text,
)
from yamori.detect.rules.reader import MAX_FILE_BYTES

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "falco-rules"
needs_corpus = pytest.mark.skipif(
    not CORPORA.is_dir(), reason=f"Falco rules corpus not present at {CORPORA} (../shared is absent)"
)


def _load(*texts: str) -> RuleSet:
    """Load hand-written files in order, named a.yaml, b.yaml, ..."""
    names = "abcdefgh"
    return collect(read_rules_text(textwrap.dedent(t), f"{names[i]}.yaml") for i, t in enumerate(texts))


def _errors(rs: RuleSet) -> list[LoadMessage]:
    return rs.errors


def _one_error(rs: RuleSet) -> LoadMessage:
    assert len(rs.errors) == 1, [str(m) for m in rs.messages]
    return rs.errors[0]


BASE = """
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve
- rule: Shell
  desc: a shell ran
  condition: spawned and proc.name in (shells)
  output: shell %proc.name
  priority: WARNING
  tags: [host, shell]
  exceptions:
    - name: known
      fields: [proc.name, user.name]
      values:
        - [bash, root]
"""


# --- the Falco corpus ---------------------------------------------------------------------------

CORPUS_COUNTS = {
    # file: (rules, macros, lists, disabled rules, plugin warnings)
    "falco_rules.yaml": (25, 87, 49, 0, 0),
    "falco-incubating_rules.yaml": (31, 82, 54, 0, 0),
    "falco-sandbox_rules.yaml": (37, 183, 60, 12, 0),
    "k8s_audit_rules.yaml": (48, 45, 18, 0, 0),
    "aws_cloudtrail_rules.yaml": (22, 0, 1, 2, 0),
}


@needs_corpus
@pytest.mark.parametrize("name", sorted(CORPUS_COUNTS))
def test_corpus_file_loads_without_errors(name: str) -> None:
    rules, macros, lists, disabled, plugin_warnings = CORPUS_COUNTS[name]
    rs = load_rules_files([CORPORA / name])
    assert rs.errors == []
    assert (len(rs.rules), len(rs.macros), len(rs.lists)) == (rules, macros, lists)
    assert sum(not r.enabled for r in rs.rules.values()) == disabled
    # The syscall files require the "container" plugin, whose fields the sensor provides.
    assert [m.code for m in rs.warnings] == ["LOAD_UNKNOWN_PLUGIN"] * plugin_warnings
    for rule in rs.rules.values():
        assert rule.condition and rule.output and rule.desc
        assert rule.position.file.endswith(name) and rule.position.line > 1


@needs_corpus
def test_corpus_source_and_priorities() -> None:
    k8s = load_rules_files([CORPORA / "k8s_audit_rules.yaml"])
    assert {r.source for r in k8s.rules.values()} == {"k8s_audit"}
    aws = load_rules_files([CORPORA / "aws_cloudtrail_rules.yaml"])
    assert {r.source for r in aws.rules.values()} == {"aws_cloudtrail"}
    assert [(p.name, p.version) for p in aws.plugin_requirements] == [
        ("cloudtrail", "0.10.0"),
        ("json", "0.7.0"),
    ]
    assert [p.name for p in k8s.plugin_requirements] == ["k8saudit", "json"]
    assert "k8saudit-eks" in [alt for alt, _ in k8s.plugin_requirements[0].alternatives]
    syscall = load_rules_files([CORPORA / "falco_rules.yaml"])
    assert all(r.source == "syscall" for r in syscall.rules.values())
    assert {r.priority for r in syscall.rules.values()} <= set(Priority)


@needs_corpus
def test_corpus_syscall_files_load_together() -> None:
    names = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]
    rs = load_rules_files([CORPORA / n for n in names])
    assert rs.errors == []
    assert rs.warnings == []
    # Rule names are distinct across the three files; incubating and sandbox redefine some of
    # falco_rules.yaml's macros and lists (same names replace, keeping first-definition order).
    assert len(rs.rules) == 25 + 31 + 37
    assert (len(rs.macros), len(rs.lists)) == (315, 118)
    assert list(rs.rules)[:25] == list(load_rules_files([CORPORA / names[0]]).rules)


# --- merge behaviour ----------------------------------------------------------------------------


def test_base_file_reads_typed_items() -> None:
    rs = _load(BASE)
    assert rs.ok and rs.messages == []
    assert rs.lists["shells"].items == ["bash", "sh"]
    assert rs.macros["spawned"].condition == "evt.type = execve"
    rule = rs.rules["Shell"]
    assert rule.priority is Priority.WARNING
    assert rule.tags == ["host", "shell"]
    assert rule.source == "syscall" and rule.enabled
    (exc,) = rule.exceptions
    assert exc.fields == ["proc.name", "user.name"]
    assert exc.comps == ["=", "="]  # default per field in the list form
    assert exc.values == [["bash", "root"]]
    assert (rule.position.file, rule.position.line, rule.position.column) == ("a.yaml", 6, 3)


def test_redefinition_replaces_in_place() -> None:
    rs = _load(
        BASE
        + """
- rule: Other
  desc: d
  condition: evt.type = open
  output: o
  priority: info
""",
        """
- list: shells
  items: [zsh]
- rule: Shell
  desc: new
  condition: evt.type = clone
  output: new %proc.name
  priority: error
""",
    )
    assert rs.ok
    assert rs.lists["shells"].items == ["zsh"]
    assert list(rs.rules) == ["Shell", "Other"]  # the replacement keeps the first position
    shell = rs.rules["Shell"]
    assert (shell.desc, shell.condition, shell.priority) == ("new", "evt.type = clone", Priority.ERROR)
    assert shell.exceptions == [] and shell.tags == []
    assert shell.position.file == "b.yaml"
    assert rs.rules["Other"].priority is Priority.INFORMATIONAL


def test_deprecated_append_true() -> None:
    rs = _load(
        BASE,
        """
- list: shells
  items: [zsh]
  append: true
- macro: spawned
  condition: and evt.dir = <
  append: true
- rule: Shell
  condition: and not user.name = admin
  exceptions:
    - name: known
      values: [[sh, daemon]]
    - name: by_parent
      fields: proc.pname
      values: [cron, systemd]
  append: true
""",
    )
    assert rs.errors == []
    assert [m.code for m in rs.warnings] == ["LOAD_DEPRECATED_ITEM"] * 3
    assert all(m.file == "b.yaml" for m in rs.warnings)
    assert rs.lists["shells"].items == ["bash", "sh", "zsh"]
    assert rs.macros["spawned"].condition == "evt.type = execve and evt.dir = <"
    rule = rs.rules["Shell"]
    assert rule.condition.endswith("in (shells) and not user.name = admin")
    known, by_parent = rule.exceptions
    assert known.values == [["bash", "root"], ["sh", "daemon"]]
    assert (by_parent.fields, by_parent.comps, by_parent.values) == ("proc.pname", "in", ["cron", "systemd"])


def test_override_append_per_key() -> None:
    rs = _load(
        BASE,
        """
- list: shells
  items: [zsh]
  override:
    items: append
- macro: spawned
  condition: or evt.type = execveat
  override:
    condition: append
- rule: Shell
  condition: and container.id != host
  output: (user=%user.name)
  desc: and more
  tags: [shell, mitre]
  exceptions:
    - name: known
      values: [[zsh, bob]]
  override:
    condition: append
    output: append
    desc: append
    tags: append
    exceptions: append
""",
    )
    assert rs.ok and rs.warnings == []
    assert rs.lists["shells"].items == ["bash", "sh", "zsh"]
    assert rs.macros["spawned"].condition == "evt.type = execve or evt.type = execveat"
    rule = rs.rules["Shell"]
    assert rule.condition == "spawned and proc.name in (shells) and container.id != host"
    assert rule.output == "shell %proc.name (user=%user.name)"
    assert rule.desc == "a shell ran and more"
    assert rule.tags == ["host", "shell", "mitre"]
    assert rule.exceptions[0].values == [["bash", "root"], ["zsh", "bob"]]


def test_override_replace_per_key() -> None:
    rs = _load(
        BASE,
        """
- list: shells
  items: [fish]
  override: {items: replace}
- macro: spawned
  condition: evt.type = clone
  override: {condition: replace}
- rule: Shell
  condition: evt.type = open
  output: replaced
  desc: replaced desc
  priority: critical
  tags: [t]
  enabled: false
  warn_evttypes: false
  skip-if-unknown-filter: true
  exceptions: []
  override:
    condition: replace
    output: replace
    desc: replace
    priority: replace
    tags: replace
    enabled: replace
    warn_evttypes: replace
    skip-if-unknown-filter: replace
    exceptions: replace
""",
    )
    assert rs.ok and rs.messages == []
    assert rs.lists["shells"].items == ["fish"]
    assert rs.macros["spawned"].condition == "evt.type = clone"
    rule = rs.rules["Shell"]
    assert (rule.condition, rule.output, rule.desc) == ("evt.type = open", "replaced", "replaced desc")
    assert rule.priority is Priority.CRITICAL and rule.tags == ["t"]
    assert not rule.enabled and not rule.warn_evttypes and rule.skip_if_unknown_filter
    assert rule.exceptions == []
    assert rule.position.file == "a.yaml"  # an override keeps the original definition's place


def test_override_only_touches_named_keys() -> None:
    rs = _load(BASE, "- rule: Shell\n  priority: debug\n  override: {priority: replace}\n")
    rule = rs.rules["Shell"]
    assert rs.ok and rule.priority is Priority.DEBUG
    assert rule.output == "shell %proc.name" and rule.tags == ["host", "shell"]


@pytest.mark.parametrize(
    ("item", "text"),
    [
        ("- rule: Shell\n  priority: debug\n  override: {priority: append}\n", "cannot be overridden"),
        ("- rule: Shell\n  output: x\n  override: {priority: replace}\n", "does not give it"),
        (
            "- rule: Shell\n  output: x\n  priority: debug\n  override: {output: replace}\n",
            "no corresponding",
        ),
        ("- rule: Shell\n  output: x\n  override: {output: prepend}\n", "append or replace"),
        (
            "- rule: Shell\n  condition: x\n  append: true\n  override: {condition: append}\n",
            "cannot be used",
        ),
        ("- list: shells\n  items: [a]\n  override: {condition: append}\n", "cannot be overridden"),
        ("- macro: spawned\n  condition: x\n  override: {items: append}\n", "cannot be overridden"),
    ],
)
def test_override_misuse_is_an_error(item: str, text: str) -> None:
    rs = _load(BASE, item)
    err = _one_error(rs)
    assert text in err.text and err.file == "b.yaml" and err.line >= 1
    assert rs.rules["Shell"].output == "shell %proc.name"  # the bad item changed nothing


def test_enable_only_item() -> None:
    rs = _load(
        BASE.replace("priority: WARNING", "priority: WARNING\n  enabled: false"),
        "- rule: Shell\n  enabled: true\n",
    )
    assert rs.errors == []
    (warning,) = rs.warnings
    assert warning.code == "LOAD_DEPRECATED_ITEM" and (warning.file, warning.line) == ("b.yaml", 1)
    assert rs.rules["Shell"].enabled
    assert rs.rules["Shell"].condition == "spawned and proc.name in (shells)"


def test_disabled_rules_are_kept() -> None:
    rs = _load(BASE.replace("priority: WARNING", "priority: WARNING\n  enabled: false"))
    assert rs.ok and not rs.rules["Shell"].enabled


@pytest.mark.parametrize(
    "item",
    [
        "- list: nope\n  items: [a]\n  append: true\n",
        "- macro: nope\n  condition: and x\n  append: true\n",
        "- rule: Nope\n  condition: and x\n  append: true\n",
        "- list: nope\n  items: [a]\n  override: {items: append}\n",
        "- rule: Nope\n  output: x\n  override: {output: append}\n",
        "- rule: Nope\n  enabled: false\n",
    ],
)
def test_changing_an_undefined_item_is_an_error(item: str) -> None:
    rs = _load(BASE, item)
    err = _one_error(rs)
    assert "not defined" in err.text
    assert (err.file, err.line, err.column) == ("b.yaml", 1, 3)
    assert err.item in ("nope", "Nope")


def test_replace_override_of_undefined_list_or_macro_defines_it() -> None:
    # Falco treats 'replace' of a list's items / a macro's condition as a plain definition.
    rs = _load(
        "- list: l\n  items: [a]\n  override: {items: replace}\n"
        "- macro: m\n  condition: x\n  override: {condition: replace}\n"
    )
    assert rs.messages == [] and rs.lists["l"].items == ["a"] and rs.macros["m"].condition == "x"


def test_append_within_the_same_file_and_order() -> None:
    rs = _load(BASE + "- list: shells\n  items: [ksh]\n  override: {items: append}\n")
    assert rs.ok and rs.lists["shells"].items == ["bash", "sh", "ksh"]


def test_append_to_rule_of_other_source_is_an_error() -> None:
    rs = _load(
        BASE, "- rule: Shell\n  source: k8s_audit\n  condition: and x\n  override: {condition: append}\n"
    )
    assert "source" in _one_error(rs).text


def test_exception_appended_with_fields_is_an_error() -> None:
    rs = _load(
        BASE,
        """
- rule: Shell
  exceptions:
    - name: known
      fields: [proc.name]
      values: [[x]]
  override: {exceptions: append}
""",
    )
    assert "only add values" in _one_error(rs).text


@pytest.mark.parametrize(
    ("exceptions", "text"),
    [
        ("- name: e\n      fields: [a.b, c.d]\n      comps: [=]\n      values: []", "'comps' has 1"),
        ("- name: e\n      fields: [a.b]\n      values: [[x, y]]", "has 2 entries"),
        ("- name: e\n      fields: a.b\n      values: [[x]]", "flat list"),
        ("- name: e\n      fields: [a.b]\n      comps: [like]\n      values: []", "unknown comparison"),
        ("- name: e\n      values: [[x]]", "no 'fields'"),
        ("- fields: [a.b]", "no 'name'"),
        ("- name: e\n      fields: [a.b]\n      vals: []", "unknown key 'vals'"),
        ("- name: e\n      fields: a.b\n    - name: e\n      fields: a.b", "defined twice"),
    ],
)
def test_bad_exceptions(exceptions: str, text: str) -> None:
    rule = f"""
- rule: R
  desc: d
  condition: evt.type = open
  output: o
  priority: notice
  exceptions:
    {exceptions}
"""
    rs = _load(rule)
    err = _one_error(rs)
    assert text in err.text, err.text
    assert err.line >= 7 and "R" not in rs.rules


# --- strict validation, versions and positions ---------------------------------------------------


def test_unknown_key_reports_file_line_column() -> None:
    rs = _load(
        "- macro: m\n  condition: x\n- rule: R\n  desc: d\n  condtion: x\n  output: o\n  priority: info\n"
    )
    err = _one_error(rs)
    assert err.code == "LOAD_ERR_YAML_VALIDATE"
    assert (err.file, err.line, err.column) == ("a.yaml", 5, 3)
    assert "unknown key 'condtion'" in err.text and err.item == "R"
    assert str(err).startswith("a.yaml:5:3: error: unknown key 'condtion' in rule")
    assert "R" not in rs.rules and "m" in rs.macros


def test_every_unknown_key_is_reported() -> None:
    rs = _load("- list: l\n  items: []\n  colour: red\n  size: 3\n")
    assert [(m.line, m.text) for m in rs.errors] == [
        (3, "unknown key 'colour' in list"),
        (4, "unknown key 'size' in list"),
    ]


def test_missing_required_rule_keys() -> None:
    rs = _load("- rule: R\n  condition: evt.type = open\n  priority: info\n")
    err = _one_error(rs)
    assert "'output', 'desc'" in err.text and err.line == 1


@pytest.mark.parametrize("priority", ["warning", "WARNING", "Warning", "wArNiNg"])
def test_priority_is_case_insensitive(priority: str) -> None:
    assert Priority.parse(priority) is Priority.WARNING


def test_priority_info_and_labels() -> None:
    assert Priority.parse("Info") is Priority.INFORMATIONAL
    assert Priority.parse("informational") is Priority.INFORMATIONAL
    assert Priority.parse("severe") is None
    assert Priority.EMERGENCY < Priority.DEBUG
    assert Priority.INFORMATIONAL.label == "Informational"


def test_bad_priority() -> None:
    rs = _load("- rule: R\n  desc: d\n  condition: c\n  output: o\n  priority: severe\n")
    err = _one_error(rs)
    assert "invalid priority 'severe'" in err.text and (err.line, err.column) == (5, 13)


def test_bad_types() -> None:
    rs = _load(
        "- rule: R\n  desc: d\n  condition: c\n  output: o\n  priority: info\n  enabled: maybe\n"
        "- list: l\n  items: notalist\n"
        "- macro: m\n  condition: [a, b]\n"
    )
    assert [(m.line, m.text.split(", not")[0]) for m in rs.errors] == [
        (6, "'enabled' must be true or false"),
        (8, "'items' must be a list"),
        (10, "'condition' must be a string"),
    ]
    assert (rs.rules, rs.lists, rs.macros) == ({}, {}, {})


def test_list_items_keep_their_text() -> None:
    rs = _load("- list: l\n  items: [80, yes, 1.0, '443', \"with space\"]\n")
    assert rs.lists["l"].items == ["80", "yes", "1.0", "443", "with space"]


def test_bare_dash_items_are_skipped() -> None:
    rs = _load("-\n- list: l\n  items: [a, ]\n-\n")
    assert rs.ok and rs.lists["l"].items == ["a"]


@pytest.mark.parametrize("version", ["0", "15", "0.57.0", "0.10.3", 57])
def test_required_engine_version_accepted(version: object) -> None:
    assert _load(f"- required_engine_version: {version}\n").ok


@pytest.mark.parametrize("version", ["58", "0.58.0", "1.0.0"])
def test_required_engine_version_too_new(version: str) -> None:
    rs = _load(f"- list: a\n  items: []\n- required_engine_version: {version}\n")
    err = _one_error(rs)
    assert err.code == "LOAD_ERR_VALIDATE" and (err.line, err.column) == (3, 28)
    assert "yamori implements 0.57.0" in err.text
    assert ENGINE_VERSION == (0, 57, 0)


def test_required_engine_version_malformed() -> None:
    assert "invalid required_engine_version" in _one_error(_load("- required_engine_version: v2\n")).text


def test_required_plugin_versions() -> None:
    rs = _load(
        """
- required_plugin_versions:
    - name: k8saudit-gke
      version: 0.1.0
      alternatives:
        - name: k8saudit
          version: 0.18.0
    - name: cloudtrail
      version: 9.9.9
    - name: okta
      version: 0.1.0
"""
    )
    assert rs.errors == []
    (warning,) = rs.warnings
    assert warning.code == "LOAD_UNKNOWN_PLUGIN" and "'okta'" in warning.text and warning.line == 10
    assert [p.name for p in rs.plugin_requirements] == ["k8saudit-gke", "cloudtrail", "okta"]


def test_bad_plugin_version() -> None:
    err = _one_error(_load("- required_plugin_versions:\n  - name: json\n    version: latest\n"))
    assert "not X.Y.Z" in err.text and err.line == 3


def test_unknown_top_level_item_is_a_warning() -> None:
    rs = _load("- something_new: 1\n- list: l\n  items: []\n")
    assert rs.errors == [] and [m.code for m in rs.warnings] == ["LOAD_UNKNOWN_ITEM"]
    assert "l" in rs.lists


def test_item_with_two_kinds() -> None:
    assert "more than one kind" in _one_error(_load("- list: l\n  macro: m\n  items: []\n")).text


# --- bad input ------------------------------------------------------------------------------------


def test_malformed_yaml_is_one_error_with_position() -> None:
    rs = _load("- list: l\n  items: [a, b\n- macro: m\n  condition: x\n")
    err = _one_error(rs)
    assert err.code == "LOAD_ERR_YAML_PARSE" and err.file == "a.yaml" and err.line >= 2
    assert rs.lists == {} and rs.macros == {}


def test_bad_indentation_is_a_parse_error() -> None:
    err = _one_error(_load("- rule: R\n  desc: d\n   condition: c\n"))
    assert err.code == "LOAD_ERR_YAML_PARSE" and err.line == 3


def test_top_level_not_a_list() -> None:
    err = _one_error(_load("rule: R\ndesc: d\n"))
    assert "not a list" in err.text and (err.line, err.column) == (1, 1)


def test_empty_file_is_fine() -> None:
    assert _load("").messages == [] and _load("# only a comment\n").ok


def test_item_not_a_mapping() -> None:
    rs = _load("- just a string\n- [a, b]\n- list: l\n  items: []\n")
    assert [(m.line, "mapping" in m.text) for m in rs.errors] == [(1, True), (2, True)]
    assert "l" in rs.lists


def test_duplicate_keys() -> None:
    rs = _load("- rule: R\n  desc: d\n  condition: a\n  output: o\n  priority: info\n  condition: b\n")
    err = _one_error(rs)
    assert "duplicate key 'condition' (first at line 3)" in err.text and err.line == 6
    assert "R" not in rs.rules


def test_multiple_documents_load_in_order() -> None:
    rs = _load("- list: a\n  items: [x]\n---\n- list: a\n  items: [y]\n  override: {items: append}\n---\n")
    assert rs.ok and rs.lists["a"].items == ["x", "y"]


def test_append_true_ignores_other_keys_with_a_warning() -> None:
    rs = _load(BASE, "- rule: Shell\n  output: x\n  append: true\n")
    assert rs.errors == []
    assert [m.code for m in rs.warnings] == [
        "LOAD_DEPRECATED_ITEM",
        "LOAD_IGNORED_KEY",
        "LOAD_APPEND_NO_VALUES",
    ]
    assert rs.rules["Shell"].output == "shell %proc.name"


def test_enable_only_with_extra_keys_warns() -> None:
    rs = _load(BASE, "- rule: Shell\n  enabled: false\n  tags: [x]\n")
    assert rs.errors == [] and not rs.rules["Shell"].enabled
    assert [m.code for m in rs.warnings] == ["LOAD_DEPRECATED_ITEM", "LOAD_IGNORED_KEY"]
    assert rs.rules["Shell"].tags == ["host", "shell"]


def test_rule_with_nothing_to_do_is_an_error() -> None:
    assert "has no 'condition'" in _one_error(_load("- rule: R\n  tags: [a]\n")).text


def test_exception_override_without_values_warns() -> None:
    rs = _load(BASE, "- rule: Shell\n  exceptions:\n    - name: known\n  override: {exceptions: append}\n")
    assert rs.errors == [] and [m.code for m in rs.warnings] == ["LOAD_APPEND_NO_VALUES"]
    assert rs.rules["Shell"].exceptions[0].values == [["bash", "root"]]


@pytest.mark.parametrize(
    ("item", "text"),
    [
        ("- macro: my-macro\n  condition: x\n", "invalid macro name"),
        ("- macro: 1m\n  condition: x\n", "invalid macro name"),
        ("- list: 'two words'\n  items: []\n", "invalid list name"),
        ("- list: 'a,b'\n  items: []\n", "invalid list name"),
    ],
)
def test_invalid_names(item: str, text: str) -> None:
    assert text in _one_error(_load(item)).text


def test_output_is_trimmed_and_tags_deduplicated() -> None:
    rs = _load(
        "- rule: R\n  desc: d\n  condition: c\n  output: >\n    text %a\n  priority: info\n  tags: [a, b, a]"
    )
    assert rs.rules["R"].output == "text %a" and rs.rules["R"].tags == ["a", "b"]


def test_recursive_alias_is_an_error_not_a_crash() -> None:
    rs = _load("- list: l\n  items: &x [a, *x]\n")
    assert len(rs.errors) == 1 and rs.lists == {}


def test_alias_bomb_stays_small() -> None:
    lines = ["- list: l0", "  items: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"- list: l{i}\n  items: &a{i} [{', '.join([prev] * 9)}]")
    rs = _load("\n".join(lines) + "\n")
    # Nested lists are not valid list items: rejected quickly, without expanding 9**9 entries.
    assert len(rs.errors) == 8 and list(rs.lists) == ["l0"]


def test_huge_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse: 100 MB without writing 100 MB
    rf = read_rules_file(path)
    (err,) = rf.errors
    assert err.code == "LOAD_ERR_FILE_TOO_LARGE" and err.file == str(path)
    assert MAX_FILE_BYTES < 100 * 1024 * 1024


def test_missing_file(tmp_path: Path) -> None:
    rs = load_rules_files([tmp_path / "nope.yaml"])
    assert [m.code for m in rs.errors] == ["LOAD_ERR_FILE_READ"]


def test_files_on_disk_in_order(tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    second = tmp_path / "second.yaml"
    first.write_text(BASE)
    second.write_text("- rule: Shell\n  priority: emergency\n  override: {priority: replace}\n")
    rs = load_rules_files([first, second])
    assert rs.ok and rs.rules["Shell"].priority is Priority.EMERGENCY
    assert rs.rules["Shell"].position.file == str(first)
    reversed_rs = load_rules_files([second, first])
    assert "not defined" in _one_error(reversed_rs).text
    assert reversed_rs.errors[0].level is Level.ERROR


@pytest.mark.parametrize("depth", [200, 5000])
def test_deep_nesting_is_an_error_not_a_crash(depth: int) -> None:
    rs = _load("- list: l\n  items: " + "[" * depth + "]" * depth + "\n- list: ok\n  items: []\n")
    assert len(rs.errors) == 1 and "l" not in rs.lists


def test_override_with_append_false_is_fine() -> None:
    rs = _load(BASE, "- rule: Shell\n  append: false\n  enabled: false\n  override: {enabled: replace}\n")
    assert rs.messages == [] and not rs.rules["Shell"].enabled
