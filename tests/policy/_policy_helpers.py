"""Shared builders for the policy tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml

from yamori.model.finding import Finding, Status
from yamori.model.resource import Resource
from yamori.policy import Policy, evaluate, parse_policies

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
KIND = "aws.test.thing"


def policy(condition: Any = None, **extra: Any) -> Policy:
    doc: dict[str, Any] = {"id": "test-policy", "title": "Test", "severity": "high", "kind": KIND}
    if condition is not None:
        doc["condition"] = condition
    doc.update(extra)
    (compiled,) = parse_policies(yaml.safe_dump([doc], sort_keys=False), "t.yaml")
    return compiled


def resource(attrs: dict[str, Any] | None = None, **kw: Any) -> Resource:
    kw.setdefault("kind", KIND)
    kw.setdefault("id", "arn:test:1")
    kw.setdefault("account", "111111111111")
    kw.setdefault("region", "eu-west-1")
    return Resource(attributes=attrs or {}, **kw)


def run(condition: Any, attrs: dict[str, Any] | None = None, **kw: Any) -> Finding:
    (finding,) = evaluate([policy(condition)], [resource(attrs, **kw)], now=NOW)
    return finding


def status(condition: Any, attrs: dict[str, Any] | None = None, **kw: Any) -> Status:
    return run(condition, attrs, **kw).status
