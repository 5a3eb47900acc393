"""Input readers: what counts as an event, what is skipped and counted."""

from __future__ import annotations

import io
import json

from yamori.detect.inputs import InputStats, k8s_audit_docs, k8s_audit_stream, loads_json

EVENT = {
    "kind": "Event",
    "apiVersion": "audit.k8s.io/v1",
    "auditID": "a",
    "stage": "ResponseComplete",
    "verb": "get",
    "stageTimestamp": "2024-05-01T10:00:00.000001Z",
}


def test_events_without_a_parseable_stage_timestamp_are_skipped_like_falco() -> None:
    stats = InputStats()
    no_stamp = {k: v for k, v in EVENT.items() if k != "stageTimestamp"}
    bad_stamp = {**EVENT, "stageTimestamp": "yesterday"}
    doc = {"kind": "EventList", "items": [EVENT, no_stamp, bad_stamp, 7]}
    assert [e.doc for e in k8s_audit_docs(doc, stats)] == [EVENT]
    assert (stats.events, stats.skipped) == (1, 3)
    assert k8s_audit_docs(no_stamp, stats) == []
    assert (stats.events, stats.skipped) == (1, 4)


def test_stream_counts_every_kind_of_bad_line() -> None:
    lines = [json.dumps(EVENT), "not json", "[1]", "", '{"kind": "EventList", "items": "x"}', "{" * 5000]
    stats = InputStats()
    events = list(k8s_audit_stream(io.BytesIO("\n".join(lines).encode()), stats))
    assert len(events) == 1
    assert (stats.events, stats.skipped) == (1, 4)  # blank lines are not counted


def test_loads_json_falls_back_for_what_orjson_refuses() -> None:
    assert loads_json(b'{"a": "\\ud800"}') == {"a": "\ud800"}  # a lone surrogate escape
    assert loads_json('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
