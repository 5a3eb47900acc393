"""RFC 6901 pointer handling shared by `jevt.value` and `json.value`."""

from __future__ import annotations

import pytest

from yamori.detect.fields.jsonptr import JsonPointerError, lookup, parse_pointer, pointer_text

DOC = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "i\\j": 5,
    " ": 7,
    "m~n": 8,
    "x": {"~01": 9},
}


@pytest.mark.parametrize(
    ("ptr", "expected"),
    [
        ("", DOC),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/i\\j", 5),
        ("/ ", 7),
        ("/m~0n", 8),
        ("/x/~001", 9),
    ],
)
def test_rfc6901_examples(ptr: str, expected: object) -> None:
    assert lookup(DOC, ptr) == (True, expected)


@pytest.mark.parametrize(
    "ptr", ["/foo/2", "/foo/-", "/foo/01", "/foo/x", "/nope", "/foo/0/deeper", "x", "/m~2n"]
)
def test_absent(ptr: str) -> None:
    assert lookup(DOC, ptr) == (False, None)
    assert pointer_text(DOC, ptr) is None


def test_rendering() -> None:
    assert pointer_text({"a": True, "b": None, "c": 1.5, "d": "s", "e": {"k": "ü"}}, "/a") == "true"
    assert pointer_text({"b": None}, "/b") == "null"
    assert pointer_text({"e": {"k": "ü"}}, "/e") == '{"k":"ü"}'


def test_parse_errors() -> None:
    with pytest.raises(JsonPointerError):
        parse_pointer("a")
    with pytest.raises(JsonPointerError):
        parse_pointer("/a~")
