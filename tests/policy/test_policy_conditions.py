"""Every operator on present, absent, UNKNOWN and errored values; combinators and quantifiers."""

from __future__ import annotations

from typing import Any

import pytest
from _policy_helpers import run, status

from yamori.model.finding import Status
from yamori.model.resource import UNKNOWN

P, F, U, E = Status.PASS, Status.FAIL, Status.UNKNOWN, Status.ERROR

# (operator, argument, value that passes, value that fails, result when absent)
CASES: list[tuple[str, Any, Any, Any, Status]] = [
    ("eq", "Enabled", "Enabled", "Suspended", F),
    ("eq", True, True, 1, F),
    ("eq", 1, 1, True, F),
    ("eq", None, None, "x", F),
    ("ne", "Enabled", "Suspended", "Enabled", P),
    ("lt", 90, 30, 90, F),
    ("le", 90, 90, 91, F),
    ("gt", 14, 15, 14, F),
    ("ge", 14, 14, 13, F),
    ("gt", "b", "c", "a", F),
    ("lt", 5, 3, "3", F),
    ("in", ["TLSv1.2", "TLSv1.3"], "TLSv1.3", "TLSv1", F),
    ("in", [1, 2], 1, True, F),
    ("not_in", ["0.0.0.0/0"], "10.0.0.0/8", "0.0.0.0/0", P),
    ("contains", "s3:GetObject", ["s3:GetObject", "s3:PutObject"], ["s3:PutObject"], F),
    ("contains", "admin", "superadmin", "user", F),
    ("contains", "Key", {"Key": 1}, {"Other": 1}, F),
    ("regex", "arn:aws:kms:.*", "arn:aws:kms:eu-west-1:1:key/x", "alias/aws/s3", F),
    ("regex", "[a-z]+", "abc", "abc1", F),
    ("exists", True, None, None, F),
    ("empty", True, [], [1], P),
    ("empty", False, {"a": 1}, "", F),
    ("length_eq", 0, [], [1], F),
    ("length_ne", 0, [1], [], F),
    ("length_lt", 2, [1], [1, 2], F),
    ("length_le", 2, "ab", "abc", F),
    ("length_gt", 1, {"a": 1, "b": 2}, {"a": 1}, F),
    ("length_ge", 14, "a" * 14, "a" * 13, F),
    ("cidr_is_public", True, "0.0.0.0/0", "10.1.0.0/16", F),
    ("cidr_is_public", True, "::/0", "fd00::/8", F),
    ("cidr_is_public", True, "8.8.8.8", "192.168.1.1/32", F),
    ("cidr_is_public", False, "172.16.5.0/24", "1.2.3.0/24", F),
    ("cidr_contains", "0.0.0.0/0", "0.0.0.0/0", "10.0.0.0/8", F),
    ("cidr_contains", "10.1.2.3", "10.0.0.0/8", "192.168.0.0/16", F),
    ("cidr_contains", "2001:db8::1", "2001:db8::/32", "10.0.0.0/8", F),
    ("in_cidr", ["10.0.0.0/8", "172.16.0.0/12"], "10.9.0.0/16", "0.0.0.0/0", F),
    ("in_cidr", "fd00::/8", "fd12::/16", "::/0", F),
    ("older_than_days", 90, "2024-01-01T00:00:00Z", "2024-05-30T00:00:00+00:00", F),
    ("newer_than_days", 90, "2024-05-30T00:00:00Z", "2023-01-01", F),
]


@pytest.mark.parametrize(("op", "arg", "good", "bad", "absent"), CASES)
def test_operator(op: str, arg: Any, good: Any, bad: Any, absent: Status) -> None:
    cond = {"attr": "A.B", op: arg}
    if op == "exists":
        assert status(cond, {"A": {"B": good}}) is P
        assert status(cond, {"A": {}}) is F
    else:
        assert status(cond, {"A": {"B": good}}) is P, "good value"
        assert status(cond, {"A": {"B": bad}}) is F, "bad value"
    assert status(cond, {"A": {}}) is absent, "absent leaf"
    assert status(cond, {}) is absent, "absent parent"
    assert status(cond, {"A": UNKNOWN}) is U, "unknown parent"
    assert status(cond, {"A": {"B": UNKNOWN}}) is U, "unknown leaf"
    finding = run(cond, {"A": {"B": good}}, errors={"A": "AccessDenied: x:GetA"})
    assert finding.status is E
    assert "AccessDenied" in finding.evidence["message"]
    assert status(cond, {"A": {"B": good}}, errors={"*": "throttled"}) is E
    assert status(cond, {"A": {"B": good}}, errors={"Other": "denied"}) is P, "unrelated error"


def test_exists_false_and_null() -> None:
    cond = {"attr": "Policy", "exists": False}
    assert status(cond, {}) is P
    assert status(cond, {"Policy": None}) is F, "present even if null"
    assert status(cond, {"Policy": UNKNOWN}) is U


def test_type_mismatch_and_bad_values_are_false() -> None:
    assert status({"attr": "X", "cidr_is_public": True}, {"X": "not-a-cidr"}) is F
    assert status({"attr": "X", "older_than_days": 1}, {"X": "yesterday"}) is F
    assert status({"attr": "X", "regex": "a+"}, {"X": 5}) is F
    assert status({"attr": "X", "length_gt": 0}, {"X": 5}) is F
    assert status({"attr": "X", "in": ["a"]}, {"X": ["a"]}) is F, "in takes a scalar value"


def test_contains_with_unknown_element() -> None:
    assert status({"attr": "L", "contains": "b"}, {"L": ["a", UNKNOWN]}) is U
    assert status({"attr": "L", "contains": "a"}, {"L": ["a", UNKNOWN]}) is P


def test_eq_on_container_with_unknown() -> None:
    assert status({"attr": "L", "eq": "x"}, {"L": [UNKNOWN]}) is U


def test_age_with_datetime_value() -> None:
    from datetime import UTC, datetime

    assert status({"attr": "T", "older_than_days": 30}, {"T": datetime(2024, 1, 1, tzinfo=UTC)}) is P


def test_index_and_quoted_steps() -> None:
    attrs = {"Rules": [{"Port": 22}, {"Port": 443}], "Tags": {"a.b": "x"}}
    assert status({"attr": "Rules[0].Port", "eq": 22}, attrs) is P
    assert status({"attr": "Rules[-1].Port", "eq": 443}, attrs) is P
    assert status({"attr": "Rules[5].Port", "exists": False}, attrs) is P
    assert status({"attr": "Tags['a.b']", "eq": "x"}, attrs) is P


def test_projection_flattens() -> None:
    attrs = {"Perms": [{"Ranges": [{"Cidr": "10.0.0.0/8"}, {"Cidr": "0.0.0.0/0"}]}, {"Ranges": []}, {}]}
    assert status({"attr": "Perms[*].Ranges[*].Cidr", "contains": "0.0.0.0/0"}, attrs) is P
    assert status({"attr": "Perms[*].Ranges[*].Cidr", "length_eq": 2}, attrs) is P
    attrs["Perms"][1]["Ranges"] = [{"Cidr": UNKNOWN}]
    assert status({"attr": "Perms[*].Ranges[*].Cidr", "contains": "0.0.0.0/0"}, attrs) is U


def test_pseudo_fields() -> None:
    assert status({"attr": "$name", "regex": "prod-.*"}, {}, name="prod-db") is P
    assert status({"attr": "$tags.Owner", "exists": True}, {}, tags={"Owner": "me"}) is P
    assert status({"attr": "$region", "eq": "eu-west-1"}, {}, errors={"*": "denied"}) is P


def test_eq_attr_and_ne_attr() -> None:
    attrs = {"A": "x", "B": "x", "C": "y"}
    assert status({"attr": "A", "eq_attr": "B"}, attrs) is P
    assert status({"attr": "A", "eq_attr": "C"}, attrs) is F
    assert status({"attr": "A", "eq_attr": "Missing"}, attrs) is F
    assert status({"attr": "A", "ne_attr": "C"}, attrs) is P
    assert status({"attr": "A", "eq_attr": "B"}, {"A": "x", "B": UNKNOWN}) is U
    assert status({"attr": "A", "eq_attr": "B"}, attrs, errors={"B": "denied"}) is E


# ----------------------------------------------------------------------------- combinators

T = {"attr": "T", "eq": True}  # true when T is true
FL = {"attr": "F", "eq": True}  # false when F is false
UN = {"attr": "U", "eq": True}  # U is UNKNOWN
ER = {"attr": "E", "eq": True}  # E is errored
BASE = {"T": True, "F": False, "U": UNKNOWN, "E": True}
ERRS = {"E": "AccessDenied"}


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ({"all": [T, T]}, P),
        ({"all": [T, FL]}, F),
        ({"all": [UN, FL]}, F),
        ({"all": [ER, FL]}, F),
        ({"all": [T, UN]}, U),
        ({"all": [UN, ER]}, E),
        ({"all": [ER, UN]}, E),
        ({"any": [FL, T]}, P),
        ({"any": [UN, T]}, P),
        ({"any": [ER, T]}, P),
        ({"any": [FL, FL]}, F),
        ({"any": [FL, UN]}, U),
        ({"any": [UN, ER]}, E),
        ({"not": T}, F),
        ({"not": FL}, P),
        ({"not": UN}, U),
        ({"not": ER}, E),
        ({"all": [T, {"any": [FL, {"not": FL}]}]}, P),
    ],
)
def test_three_valued_logic(cond: dict[str, Any], expected: Status) -> None:
    assert status(cond, BASE, errors=ERRS) is expected


def test_error_message_kept_through_combinators() -> None:
    finding = run({"all": [UN, ER]}, BASE, errors=ERRS)
    assert finding.evidence["message"] == "E: AccessDenied"


# ----------------------------------------------------------------------------- quantifiers

RULES = {
    "Rules": [
        {"Cidr": "10.0.0.0/8", "FromPort": 22},
        {"Cidr": "0.0.0.0/0", "FromPort": 443},
    ]
}


@pytest.mark.parametrize(
    ("quant", "inner", "expected"),
    [
        ("any", {"attr": "Cidr", "cidr_is_public": True}, P),
        ("all", {"attr": "Cidr", "cidr_is_public": True}, F),
        ("none", {"attr": "Cidr", "cidr_is_public": True}, F),
        ("none", {"all": [{"attr": "Cidr", "cidr_is_public": True}, {"attr": "FromPort", "eq": 22}]}, P),
        ("all", {"attr": "FromPort", "gt": 0}, P),
    ],
)
def test_quantifiers(quant: str, inner: dict[str, Any], expected: Status) -> None:
    assert status({"attr": "Rules", quant: inner}, RULES) is expected


def test_quantifier_over_absent_empty_and_single() -> None:
    inner = {"attr": ".", "eq": "x"}
    assert status({"attr": "L", "any": inner}, {}) is F
    assert status({"attr": "L", "all": inner}, {}) is P
    assert status({"attr": "L", "none": inner}, {}) is P
    assert status({"attr": "L", "any": inner}, {"L": []}) is F
    assert status({"attr": "L", "any": inner}, {"L": "x"}) is P, "a single value is a one-element list"


def test_quantifier_unknown_elements() -> None:
    inner = {"attr": ".", "eq": "x"}
    assert status({"attr": "L", "any": inner}, {"L": [UNKNOWN, "x"]}) is P
    assert status({"attr": "L", "any": inner}, {"L": [UNKNOWN, "y"]}) is U
    assert status({"attr": "L", "all": inner}, {"L": [UNKNOWN, "y"]}) is F
    assert status({"attr": "L", "none": inner}, {"L": [UNKNOWN, "y"]}) is U
    assert status({"attr": "L", "any": inner}, {"L": UNKNOWN}) is U
    assert status({"attr": "L", "any": inner}, {"L": ["x"]}, errors={"L": "denied"}) is E


def test_nested_quantifiers() -> None:
    attrs = {"Statement": [{"Action": ["s3:Get*"]}, {"Action": ["*", "iam:*"]}]}
    cond = {"attr": "Statement", "any": {"attr": "Action", "any": {"attr": ".", "eq": "*"}}}
    assert status(cond, attrs) is P
    attrs["Statement"][1]["Action"] = ["iam:*"]
    assert status(cond, attrs) is F


def test_regex_compiled_once_is_full_match() -> None:
    assert status({"attr": "X", "regex": "abc"}, {"X": "xabcx"}) is F
    assert status({"attr": "X", "regex": "(?i)ABC"}, {"X": "abc"}) is P
