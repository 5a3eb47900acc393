"""`aws_cloudtrail` field extraction over records in the shapes CloudTrail writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _corpus_fields import CORPUS, corpus_fields

from yamori.detect.fields.cloudtrail import CloudTrailEvent, CloudTrailFields
from yamori.detect.fields.interface import FieldType

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "cloudtrail"


def load(name: str) -> CloudTrailEvent:
    return CloudTrailEvent(json.loads((FIX / name).read_text()))


@pytest.mark.skipif(not CORPUS.exists(), reason="rules corpus not available")
def test_every_corpus_field_is_declared() -> None:
    missing = corpus_fields("aws_cloudtrail_rules.yaml") - set(CloudTrailFields().fields())
    assert not missing


def test_table_shape() -> None:
    f = CloudTrailFields().fields()
    assert CloudTrailFields.source == "aws_cloudtrail" == CloudTrailEvent.source
    assert f["s3.bytes"].type is FieldType.UINT
    assert f["json.value"].arg == "key"
    assert f["ct.user"].type is FieldType.STRING


def test_console_login_without_mfa() -> None:
    e = load("console-login-no-mfa.json")
    v = e.value
    assert v("ct.name") == "ConsoleLogin"
    assert v("ct.src") == "signin.amazonaws.com"
    assert v("ct.shortsrc") == "signin"
    assert v("ct.user") == "alice"
    assert v("ct.user.identitytype") == "IAMUser"
    assert v("ct.user.arn") == "arn:aws:iam::123456789012:user/alice"
    assert v("ct.user.accountid") == "123456789012"
    assert v("ct.srcip") == "203.0.113.5"
    assert v("ct.region") == "us-east-1"
    assert v("ct.error") is None
    assert v("ct.eventtype") == "AwsConsoleSignIn"
    assert v("ct.readonly") == "false"
    assert v("ct.managementevent") == "true"
    assert v("json.value", "/responseElements/ConsoleLogin") == "Success"
    assert v("json.value", "/additionalEventData/MFAUsed") == "No"
    assert v("json.value", "/requestParameters") == "null"
    assert v("ct.request") == "null"
    assert v("ct.requestid") is None
    assert v("ct.info") == "alice via 203.0.113.5 → ConsoleLogin"
    assert e.time_ns() == 1714554000 * 10**9
    assert v("json.rawtime") == str(1714554000 * 10**9)
    assert v("ct.time") == "2024-05-01T09:00:00Z"


def test_root_action() -> None:
    v = load("root-action.json").value
    assert v("ct.user.identitytype") == "Root"
    # Root records carry no userName: the plugin's ct.user is then absent.
    assert v("ct.user") is None
    assert v("ct.user.principalid") == "123456789012"
    assert v("ct.user.arn") == "arn:aws:iam::123456789012:root"
    assert v("ct.name") == "CreateAccessKey"
    assert v("ct.requestid") == "5c1f2c2e-1111-4e8e-9b0a-8b1a6c0b0d02"
    assert v("json.value", "/userIdentity/sessionContext/attributes/mfaAuthenticated") == "false"
    assert v("ct.info") == "<invalid cloudtrail event: userIdentity field missing>"


def test_put_bucket_policy() -> None:
    v = load("put-bucket-policy.json").value
    assert v("ct.name") == "PutBucketPolicy"
    assert v("s3.bucket") == "my-data-bucket"
    assert v("s3.key") is None
    assert v("s3.uri") is None
    assert v("ct.request.host") == "my-data-bucket.s3.eu-west-1.amazonaws.com"
    assert v("ct.request.policy") == ""
    assert v("s3.bytes") == 312
    assert v("s3.bytes.in") == 312
    assert v("s3.bytes.out") == 0
    assert v("s3.cnt.get") is None
    assert v("s3.cnt.put") is None
    assert v("s3.cnt.other") == 1
    assert v("ct.info") == "bob via 198.51.100.10 → PutBucketPolicy Size=312 Bucket=my-data-bucket"
    assert (
        v("ct.resources")
        == '[{"accountId":"123456789012","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::my-data-bucket"}]'
    )
    assert v("json.value", "/requestParameters/bucketPolicy/Statement/0/Principal") == "*"


def test_create_user() -> None:
    v = load("create-user.json").value
    assert v("ct.request.username") == "backdoor"
    assert v("ct.user") == "alice"
    assert v("ct.shortsrc") == "iam"
    assert v("ct.response") is not None
    assert json.loads(v("ct.response"))["user"]["userName"] == "backdoor"
    assert v("ct.info") == "alice via 203.0.113.5 → CreateUser"


def test_assumed_role_session() -> None:
    v = load("assumed-role-getobject.json").value
    assert v("ct.user.identitytype") == "AssumedRole"
    assert v("ct.user") == "app-role"
    assert v("ct.user.principalid") == "AROAEXAMPLEROLEID:i-0abcd1234efgh5678"
    assert v("ct.readonly") == "true"
    assert v("ct.managementevent") == "false"
    assert v("s3.uri") == "s3://my-data-bucket/exports/customers.csv"
    assert v("s3.key") == "exports/customers.csv"
    assert v("s3.bytes") == 52341
    assert v("s3.bytes.out") == 52341
    assert v("s3.cnt.get") == 1
    assert v("s3.cnt.other") is None
    assert v("ct.vpcendpointid") == "vpce-0a1b2c3d4e5f"
    assert v("ct.info") == (
        "app-role via 10.0.5.17 ← GetObject Size=52341 URI=s3://my-data-bucket/exports/customers.csv"
    )


def test_assumed_role_without_issuer_and_other_types() -> None:
    base = {"eventName": "ListBuckets", "sourceIPAddress": "s3.amazonaws.com"}
    ar = CloudTrailEvent({**base, "userIdentity": {"type": "AssumedRole"}})
    assert ar.value("ct.user") == "AssumedRole"
    svc = CloudTrailEvent({**base, "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}})
    assert svc.value("ct.user") == "s3.amazonaws.com"
    assert svc.value("ct.info") == "s3.amazonaws.com ← ListBuckets"  # user == srcip: no "via"
    assert CloudTrailEvent({"userIdentity": {"type": "AWSAccount"}}).value("ct.user") == "AWSAccount"
    assert CloudTrailEvent({"userIdentity": {"type": "FederatedUser"}}).value("ct.user") == "FederatedUser"
    assert CloudTrailEvent({"userIdentity": {"type": "Weird"}}).value("ct.user") is None


def test_readonly_heuristic_when_missing() -> None:
    assert CloudTrailEvent({"eventName": "DeleteTrail"}).value("ct.readonly") == "false"
    assert CloudTrailEvent({"eventName": "DescribeTrails"}).value("ct.readonly") == "true"
    assert CloudTrailEvent({}).value("ct.readonly") is None


def test_error_event() -> None:
    v = load("error-event.json").value
    assert v("ct.error") == "Client.UnauthorizedOperation"
    assert v("ct.request.availabilityzone") == "us-west-2a"
    assert v("ec2.name") == "miner-1"
    assert v("ec2.imageid") is None
    assert v("ct.response.reservationid") is None
    assert v("ct.info") == "eve via 198.51.100.66 !→ RunInstances"
    assert v("json.value", "/requestParameters/instancesSet/items/0/minCount") == "1"


def test_missing_and_unknown() -> None:
    e = CloudTrailEvent({})
    fields = CloudTrailFields().fields()
    for name, info in fields.items():
        val = e.value(name, "/x" if info.arg == "key" else None)
        if name in ("ct.info", "json.obj", "ct.managementevent", "s3.cnt.other"):
            continue
        assert val is None, name
    assert e.value("ct.managementevent") == "false"
    with pytest.raises(KeyError):
        e.value("ct.nope")


def test_every_declared_field_answers_on_every_fixture() -> None:
    fields = CloudTrailFields().fields()
    for path in FIX.glob("*.json"):
        e = CloudTrailEvent(json.loads(path.read_text()))
        for name, info in fields.items():
            val = e.value(name, "/eventName" if info.arg == "key" else None)
            if info.type is FieldType.UINT:
                assert val is None or (isinstance(val, int) and val >= 0)
            else:
                assert val is None or isinstance(val, str)
