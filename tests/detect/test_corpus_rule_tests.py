"""Falco's own rules files, loaded unmodified, against the rule tests kept beside them.

For each (rules file, tests file, source): every case of the tests file passes, and every enabled
rule of that source is covered — named in some case's `expect` (it fires on an event) and in some
case's `expect_not` (a near miss does not fire it). A rule the unmodified file makes impossible
to fire is listed in `cannot_fire` with the reason, and must then have near misses only.

Rules from falcosecurity/plugins (Apache-2.0), in ../shared; tests in tests/fixtures/rule-tests.
Adding a rules file is one more `Corpus` entry in CORPORA.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from yamori.cli.main import app
from yamori.detect.compiler import CompiledRules, compile_ruleset
from yamori.detect.rules import load_rules_files
from yamori.detect.ruletest import CaseResult, RuleTestCase, load_rule_tests, run_rule_tests
from yamori.detect.sources import field_classes

RULES = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "falco-rules"
TESTS = Path(__file__).resolve().parents[1] / "fixtures" / "rule-tests"

pytestmark = pytest.mark.skipif(not RULES.is_dir(), reason=f"Falco rules corpus not present at {RULES}")

# Macros the k8s rules file defines as `k8s_audit_always_true` (`jevt.rawtime exists`, true for
# every event Falco sees) and then negates, so the rule's condition is never true.
_ALWAYS_TRUE_GUARD = "guarded by `not {}`, and that macro is k8s_audit_always_true"


@dataclass(frozen=True)
class Corpus:
    rules: str  # file name in RULES
    tests: str  # file name in TESTS
    source: str
    cannot_fire: Mapping[str, str] = field(default_factory=dict)  # rule -> why

    @property
    def id(self) -> str:
        return self.rules.removesuffix(".yaml")


CORPORA = [
    Corpus(
        "k8s_audit_rules.yaml",
        "k8s_audit_rules.tests.yaml",
        "k8s_audit",
        cannot_fire={
            "Create Disallowed Pod": _ALWAYS_TRUE_GUARD.format("allowed_k8s_containers"),
            "Full K8s Administrative Access": _ALWAYS_TRUE_GUARD.format("allowed_full_admin_users"),
            "Untrusted Node Successfully Joined the Cluster": _ALWAYS_TRUE_GUARD.format(
                "allow_all_k8s_nodes"
            ),
            "Untrusted Node Unsuccessfully Tried to Join the Cluster": _ALWAYS_TRUE_GUARD.format(
                "allow_all_k8s_nodes"
            ),
        },
    ),
    Corpus("aws_cloudtrail_rules.yaml", "aws_cloudtrail_rules.tests.yaml", "aws_cloudtrail"),
]
# A tests file another change has not added yet is skipped, not failed.
PRESENT = [c for c in CORPORA if (TESTS / c.tests).is_file()]


@cache
def _compiled(rules: str) -> CompiledRules:
    compiled = compile_ruleset(load_rules_files([RULES / rules]), field_classes())
    assert [m.text for m in compiled.messages] == []
    return compiled


@cache
def _cases(tests: str) -> tuple[RuleTestCase, ...]:
    return tuple(load_rule_tests(TESTS / tests))


@cache
def _results(rules: str, tests: str) -> dict[str, CaseResult]:
    return {r.case.name: r for r in run_rule_tests(_compiled(rules), _cases(tests))}


def _all_cases() -> list[object]:
    params: list[object] = []
    for corpus in PRESENT:
        for case in _cases(corpus.tests):
            params.append(pytest.param(corpus, case.name, id=f"{corpus.id}::{case.name}"))
    return params


@pytest.mark.parametrize("corpus", PRESENT, ids=lambda c: c.id)
def test_case_names_are_unique_and_sources_match(corpus: Corpus) -> None:
    names = [c.name for c in _cases(corpus.tests)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert {c.source for c in _cases(corpus.tests)} == {corpus.source}


@pytest.mark.parametrize(("corpus", "name"), _all_cases())
def test_case_passes(corpus: Corpus, name: str) -> None:
    result = _results(corpus.rules, corpus.tests)[name]
    assert result.passed, f"{result.case.where}: " + "; ".join(result.problems)


@pytest.mark.parametrize("corpus", PRESENT, ids=lambda c: c.id)
def test_every_enabled_rule_is_covered(corpus: Corpus) -> None:
    enabled = {r.name for r in _compiled(corpus.rules).rules if r.source == corpus.source}
    assert enabled
    assert set(corpus.cannot_fire) <= enabled, "cannot_fire names a rule that is not loaded"
    cases = _cases(corpus.tests)
    fired = {name for c in cases for name in c.expect}
    near_missed = {name for c in cases for name in c.expect_not}
    assert sorted(enabled - set(corpus.cannot_fire) - fired) == [], "rules no case makes fire"
    assert sorted(enabled - near_missed) == [], "rules with no near miss"
    # A rule documented as impossible must not be claimed to fire.
    assert sorted(set(corpus.cannot_fire) & fired) == []


@pytest.mark.parametrize("corpus", PRESENT, ids=lambda c: c.id)
def test_cli_rules_test(corpus: Corpus) -> None:
    result = CliRunner().invoke(
        app, ["rules", "test", "--rules", str(RULES / corpus.rules), str(TESTS / corpus.tests)]
    )
    assert result.exit_code == 0, result.output
    n = len(_cases(corpus.tests))
    assert result.output.strip().splitlines()[-1] == f"{n} passed, 0 failed"
