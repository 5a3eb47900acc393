"""Output templates, Alert JSON (Falco's json_output shape)."""

from __future__ import annotations

import json

from detect_dict_fields import CLASSES, DictEvent

from yamori.detect.output import Alert, OutputTemplate, alert_to_json, format_output, rfc3339_ns


def fmt(template: str, values: dict[str, object], time_ns: int = 0) -> str:
    return format_output(template, DictEvent(values, time_ns), CLASSES)


def test_fields_args_and_missing() -> None:
    assert fmt("user=%d.s n=%d.n", {"d.s": "bob", "d.n": 3}) == "user=bob n=3"
    assert fmt("user=%d.s.", {"d.s": "bob"}) == "user=bob."  # trailing dot is punctuation
    assert fmt("k=%d.map[a.b] i=%d.idx[0]", {"d.map[a.b]": "v"}) == "k=v i=<NA>"
    assert fmt("%d.s", {}) == "<NA>"


def test_types_print_like_falco() -> None:
    assert fmt("%d.b %d.l", {"d.b": True, "d.l": ["a", "b"]}) == "true (a,b)"
    assert fmt("%d.l", {"d.l": []}) == "<NA>"  # no elements: not extracted, as Falco prints it


def test_transformers_and_padding() -> None:
    assert fmt("%tolower(d.s)", {"d.s": "ABC"}) == "abc"
    assert fmt("%toupper(basename(d.path))", {"d.path": "/bin/sh"}) == "SH"
    assert fmt("[%5d.s]", {"d.s": "ab"}) == "[ab   ]"
    assert fmt("[%2d.s]", {"d.s": "abcdef"}) == "[ab]"
    assert fmt("[%3d.s]", {}) == "[<NA]"


def test_percent_that_is_not_a_field_is_kept() -> None:
    assert fmt("100% sure, 50%% off, %nofield", {}) == "100% sure, 50% off, %nofield"


def test_generic_evt_fields() -> None:
    t = 1_700_000_000_000_000_001
    assert fmt("%evt.time.iso8601 %evt.source", {}, t) == "2023-11-14T22:13:20.000000001Z dict"


def test_output_fields_keys() -> None:
    tmpl = OutputTemplate.parse("%d.s %tolower(d.t) %d.map[k]")
    text, values = tmpl.render(DictEvent({"d.s": "x", "d.t": "Y"}))
    assert text == "x y <NA>"
    assert values == {"d.s": "x", "tolower(d.t)": "y", "d.map[k]": None}


def test_rfc3339_ns() -> None:
    assert rfc3339_ns(0) == "1970-01-01T00:00:00.000000000Z"
    assert rfc3339_ns(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"


def test_alert_to_json_shape() -> None:
    alert = Alert(
        rule="R",
        priority="Warning",
        source="k8s_audit",
        output="hello",
        output_fields={"ka.user.name": "bob", "ka.x": None, "ka.l": ["a"]},
        tags=("b", "a"),
        time=1_700_000_000_123_456_789,
    )
    doc = json.loads(alert_to_json(alert, "host1"))
    assert doc == {
        "hostname": "host1",
        "output": "hello",
        "output_fields": {"ka.user.name": "bob", "ka.x": None, "ka.l": ["a"]},
        "priority": "Warning",
        "rule": "R",
        "source": "k8s_audit",
        "tags": ["a", "b"],
        "time": "2023-11-14T22:13:20.123456789Z",
    }
