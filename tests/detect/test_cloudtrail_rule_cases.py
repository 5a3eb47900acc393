"""The CloudTrail rule-test cases are records in the shape CloudTrail writes.

Running the cases against the rules is the corpus rule-test module's job; this only keeps the
records honest: every case has the top-level keys of a real record, and no two share an eventID.
"""

from __future__ import annotations

import json
from pathlib import Path

from yamori.detect.ruletest import load_rule_tests

CASES = Path(__file__).resolve().parent.parent / "fixtures" / "rule-tests" / "aws_cloudtrail_rules.tests.yaml"
RECORD_KEYS = {
    "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
    "sourceIPAddress", "userAgent", "requestParameters", "responseElements", "eventID",
    "readOnly", "eventType", "managementEvent", "recipientAccountId", "eventCategory",
}  # fmt: skip


def test_cases_are_cloudtrail_records() -> None:
    cases = load_rule_tests(CASES)
    ids: list[str] = []
    for case in cases:
        assert case.source == "aws_cloudtrail"
        assert case.name.split(": ", 1)[1].startswith(("fires on", "fires when", "near miss"))
        for record in case.events:
            assert set(record) >= RECORD_KEYS, (case.name, RECORD_KEYS - set(record))
            assert {"type", "principalId", "arn", "accountId"} <= set(record["userIdentity"])
            json.dumps(record)  # plain JSON values only (no YAML timestamps)
            ids.append(record["eventID"])
            if "errorCode" in record:
                assert "errorMessage" in record
    assert len(ids) == len(set(ids))
