"""Falco's own k8s audit and CloudTrail rules, loaded unmodified, fire on realistic events.

The whole library path at once: reader/collector → compiler with the real field classes →
engine → output. Rules from falcosecurity/plugins @ 0b3cbd8d (Apache-2.0), in ../shared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yamori.detect.compiler import compile_ruleset
from yamori.detect.engine import Engine
from yamori.detect.fields.cloudtrail import CloudTrailEvent, CloudTrailFields
from yamori.detect.fields.k8s_audit import K8sAuditEvent, K8sAuditFields
from yamori.detect.rules import load_rules_files

RULES = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "falco-rules"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

pytestmark = pytest.mark.skipif(not RULES.is_dir(), reason=f"Falco rules corpus not present at {RULES}")


@pytest.fixture(scope="module")
def engine() -> Engine:
    ruleset = load_rules_files([RULES / "k8s_audit_rules.yaml", RULES / "aws_cloudtrail_rules.yaml"])
    compiled = compile_ruleset(ruleset, {"k8s_audit": K8sAuditFields(), "aws_cloudtrail": CloudTrailFields()})
    assert [m.text for m in compiled.messages] == []
    assert len(compiled.rules) == 68  # every enabled rule of both files (2 CloudTrail rules are disabled)
    return Engine(compiled, rule_matching="all")


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "k8s-audit/pod-create-privileged.json",
            {"Create Privileged Pod", "Create Sensitive Mount Pod", "Create HostNetwork Pod"},
        ),
        ("k8s-audit/pod-exec.json", {"Attach/Exec Pod"}),
        (
            "k8s-audit/clusterrolebinding-cluster-admin.json",
            {"Attach to cluster-admin Role", "K8s ClusterRoleBinding Created"},
        ),
        (
            "k8s-audit/configmap-aws-key.json",
            {"Create/Modify Configmap With Private Credentials", "K8s ConfigMap Created"},
        ),
        ("cloudtrail/console-login-no-mfa.json", {"Console Login Without MFA"}),
        ("cloudtrail/create-user.json", {"Create AWS user"}),
        ("cloudtrail/put-bucket-policy.json", {"Put Bucket Policy"}),
    ],
)
def test_rules_fire(engine: Engine, fixture: str, expected: set[str]) -> None:
    data = json.loads((FIXTURES / fixture).read_text())
    event = K8sAuditEvent(data) if fixture.startswith("k8s-audit/") else CloudTrailEvent(data)
    alerts = engine.process(event)
    assert {a.rule for a in alerts} == expected
    assert all("<NA>" not in a.output.split("(")[0] for a in alerts)  # the message text itself resolved


def test_exec_alert_text(engine: Engine) -> None:
    data = json.loads((FIXTURES / "k8s-audit/pod-exec.json").read_text())
    (alert,) = engine.process(K8sAuditEvent(data))
    assert alert.output == (
        "Attach/Exec to pod (user=dev@example.com pod=priv-pod resource=pods ns=default action=exec "
        "command=/bin/sh)"
    )
    assert alert.priority == "Notice"
