"""CloudTrail from S3 and SQS against moto's server over HTTP (tests/support/moto.py).

Object keys use the real CloudTrail layout with timestamps near now, because the follower lists
each account/region from (newest delivery - lookback) and S3's LastModified is the real clock.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import botocore.exceptions
import pytest
from click.testing import CliRunner

from support.moto import MotoServer, aws_test_env
from yamori.cli.main import app
from yamori.detect.cloudtrail_aws import (
    S3CloudTrailFollower,
    SqsCloudTrailReader,
    notification_objects,
    parse_s3_url,
)
from yamori.detect.inputs import InputStats
from yamori.sources.aws.session import AwsSettings, SessionFactory

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "trail-logs"
RULES = "/work/shared/corpora/falco-rules/aws_cloudtrail_rules.yaml"


@pytest.fixture
def aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    moto.reset()
    aws_test_env(monkeypatch, REGION)
    yield moto


def client(moto: MotoServer, service: str) -> Any:
    return boto3.client(service, endpoint_url=moto.url, region_name=REGION)


def factory(moto: MotoServer) -> SessionFactory:
    return SessionFactory(AwsSettings(endpoint_url=moto.url, region=REGION))


def record(name: str, event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventID": event_id,
        "eventTime": "2024-05-01T12:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.7",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
            "accountId": ACCOUNT,
            "userName": "alice",
        },
        **extra,
    }


def log_key(minutes_ago: int, suffix: str, *, prefix: str = "", region: str = REGION) -> str:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return (
        f"{prefix}AWSLogs/{ACCOUNT}/CloudTrail/{region}/{moment:%Y/%m/%d}/"
        f"{ACCOUNT}_CloudTrail_{region}_{moment:%Y%m%dT%H%M}Z_{suffix}.json.gz"
    )


def put_log(s3: Any, key: str, *ids: str, bucket: str = BUCKET) -> None:
    body = gzip.compress(json.dumps({"Records": [record("ListUsers", i) for i in ids]}).encode())
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def ids(events: Any) -> list[str]:
    return [e.doc["eventID"] for e in events]


def follower(
    moto: MotoServer, state: Path, stats: InputStats, url: str = f"s3://{BUCKET}/", **kw: Any
) -> S3CloudTrailFollower:
    return S3CloudTrailFollower(factory(moto), parse_s3_url(url), stats, state_file=state, **kw)


# -- S3 ----------------------------------------------------------------------------------------


def test_s3_objects_yield_their_records(aws: MotoServer, tmp_path: Path) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=BUCKET)
    put_log(s3, log_key(30, "a", prefix="org/o-abc123/"), "a1", "a2")
    put_log(s3, log_key(20, "b", prefix="org/o-abc123/", region="eu-west-1"), "b1")
    plain = log_key(10, "c", prefix="org/o-abc123/").removesuffix(".gz")
    s3.put_object(Bucket=BUCKET, Key=plain, Body=json.dumps({"Records": [record("GetUser", "c1")]}))
    digest = f"org/o-abc123/AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/2024/05/01/d.json.gz"
    s3.put_object(Bucket=BUCKET, Key=digest, Body=gzip.compress(b"{}"))
    stats = InputStats()
    events = list(follower(aws, tmp_path / "s.json", stats, f"s3://{BUCKET}/org").events())
    assert sorted(ids(events)) == ["a1", "a2", "b1", "c1"]
    assert (stats.events, stats.skipped) == (4, 0)


def test_follow_picks_up_a_new_object(aws: MotoServer, tmp_path: Path) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=BUCKET)
    put_log(s3, log_key(10, "a"), "a1")
    stop = threading.Event()
    seen: list[str] = []
    f = follower(aws, tmp_path / "s.json", InputStats(), follow=True, poll_interval=0.05, stop=stop)

    def run() -> None:
        for event in f.events():
            seen.append(event.doc["eventID"])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: seen == ["a1"])
        put_log(s3, log_key(0, "b"), "b1")
        wait_for(lambda: seen == ["a1", "b1"])
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert seen == ["a1", "b1"]


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_restart_resumes_and_picks_up_late_delivery(aws: MotoServer, tmp_path: Path) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=BUCKET)
    state = tmp_path / "state" / "s.json"
    put_log(s3, log_key(30, "a"), "a1")
    put_log(s3, log_key(5, "b"), "b1")
    first = list(follower(aws, state, InputStats(), follow=True, max_polls=2, poll_interval=0.01).events())
    assert ids(first) == ["a1", "b1"]
    saved = json.loads(state.read_text())
    assert saved["watermark"] is not None and len(saved["done"]) == 2

    put_log(s3, log_key(0, "c"), "c1")  # new while the follower was down
    put_log(s3, log_key(20, "late"), "late1")  # key earlier than b's: delivered late
    second = list(follower(aws, state, InputStats()).events())
    assert sorted(ids(second)) == ["c1", "late1"]
    assert list(follower(aws, state, InputStats()).events()) == []


def test_since_limits_the_first_run(aws: MotoServer, tmp_path: Path) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=BUCKET)
    put_log(s3, log_key(60 * 48, "old"), "old1")
    put_log(s3, log_key(5, "new"), "new1")
    since = datetime.now(UTC) - timedelta(hours=1)
    assert ids(follower(aws, tmp_path / "s.json", InputStats(), since=since).events()) == ["new1"]


def test_object_is_done_only_after_its_records_were_consumed(aws: MotoServer, tmp_path: Path) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=BUCKET)
    state = tmp_path / "s.json"
    put_log(s3, log_key(5, "a"), "a1", "a2")
    stream = follower(aws, state, InputStats()).events()
    assert next(stream).doc["eventID"] == "a1"
    assert next(stream).doc["eventID"] == "a2"
    stream.close()  # "crash" before pulling past the last record: the object is not done
    assert json.loads(state.read_text())["done"] == {}
    assert ids(follower(aws, state, InputStats()).events()) == ["a1", "a2"]


def test_bad_objects_are_skipped_and_counted(aws: MotoServer, tmp_path: Path) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=BUCKET)
    put_log(s3, log_key(30, "good"), "g1")
    s3.put_object(Bucket=BUCKET, Key=log_key(25, "corrupt"), Body=b"\x1f\x8b\x08\x00garbage")
    s3.put_object(Bucket=BUCKET, Key=log_key(20, "text").removesuffix(".gz"), Body=b"not json")
    bomb = gzip.compress(json.dumps({"Records": [record("X", "big", pad="x" * 50_000)]}).encode())
    s3.put_object(Bucket=BUCKET, Key=log_key(15, "bomb"), Body=bomb)
    put_log(s3, log_key(12, "denied"), "d1")
    put_log(s3, log_key(10, "good2"), "g2")
    stats = InputStats()
    f = follower(aws, tmp_path / "s.json", stats, max_object_size=10_000)
    deny_get_object(f._s3, "_denied")
    assert ids(f.events()) == ["g1", "g2"]
    assert stats.skipped == 4


def deny_get_object(s3: Any, key_part: str) -> None:
    """AccessDenied for one object: moto's server does not enforce IAM, so inject the fault."""

    def handler(params: dict[str, Any], **_: Any) -> None:
        if key_part in params.get("url_path", ""):
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject"
            )

    s3.meta.events.register("before-call.s3.GetObject", handler)


# -- SQS ---------------------------------------------------------------------------------------


def s3_event(bucket: str, key: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key)}},
            }
        ]
    }


def sns(message: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": "m", "Message": json.dumps(message)}


SHAPES = {
    "s3-event": s3_event,
    "sns-s3-event": lambda b, k: sns(s3_event(b, k)),
    "cloudtrail-sns": lambda b, k: sns({"s3Bucket": b, "s3ObjectKey": [k]}),
    "cloudtrail-raw": lambda b, k: {"s3Bucket": b, "s3ObjectKey": [k]},
    "eventbridge": lambda b, k: {
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": b}, "object": {"key": k}},
    },
}


def make_queue(moto: MotoServer) -> tuple[Any, str]:
    sqs = client(moto, "sqs")
    return sqs, sqs.create_queue(QueueName="trail")["QueueUrl"]


def queue_counts(sqs: Any, url: str) -> tuple[int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attrs[names[0]]), int(attrs[names[1]])


def reader(moto: MotoServer, url: str, stats: InputStats, **kw: Any) -> SqsCloudTrailReader:
    return SqsCloudTrailReader(factory(moto), url, stats, follow=False, wait_time=0, **kw)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sqs_notification_shapes(aws: MotoServer, shape: str) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=BUCKET)
    key = log_key(5, "a", prefix="my logs/")  # a space: URL-encoded as '+' in S3 events
    put_log(s3, key, "a1", "a2")
    sqs, url = make_queue(aws)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(SHAPES[shape](BUCKET, key)))
    stats = InputStats()
    assert ids(reader(aws, url, stats).events()) == ["a1", "a2"]
    assert (stats.events, stats.skipped) == (2, 0)
    assert queue_counts(sqs, url) == (0, 0)


def test_sqs_test_event_deleted_and_unknown_left(aws: MotoServer) -> None:
    sqs, url = make_queue(aws)
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(sns(test_event)))
    sqs.send_message(QueueUrl=url, MessageBody='{"hello": "world"}')
    stats = InputStats()
    assert list(reader(aws, url, stats).events()) == []
    assert stats.skipped == 1
    assert queue_counts(sqs, url) == (0, 1)  # the unknown one is in flight, not deleted


def test_sqs_message_deleted_only_after_processing(aws: MotoServer) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=BUCKET)
    key = log_key(5, "a")
    put_log(s3, key, "a1", "a2")
    sqs, url = make_queue(aws)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(s3_event(BUCKET, key)))
    stream = reader(aws, url, InputStats()).events()
    assert next(stream).doc["eventID"] == "a1"
    assert next(stream).doc["eventID"] == "a2"
    assert queue_counts(sqs, url) == (0, 1)  # received, not deleted yet
    assert list(stream) == []
    assert queue_counts(sqs, url) == (0, 0)


def test_sqs_bad_object_counted_and_message_deleted(aws: MotoServer) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=BUCKET)
    good, bad = log_key(5, "good"), log_key(5, "bad")
    put_log(s3, good, "g1")
    s3.put_object(Bucket=BUCKET, Key=bad, Body=b"\x1f\x8bnope")
    sqs, url = make_queue(aws)
    message = {"s3Bucket": BUCKET, "s3ObjectKey": [bad, good, f"{BUCKET}-missing-key.json.gz"]}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
    stats = InputStats()
    assert ids(reader(aws, url, stats).events()) == ["g1"]
    assert stats.skipped == 2
    assert queue_counts(sqs, url) == (0, 0)


def test_notification_objects_ignores_removals() -> None:
    removal = s3_event(BUCKET, "k.json.gz")
    removal["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert notification_objects(json.dumps(removal)) == []
    assert notification_objects("[1, 2]") is None
    assert notification_objects("not json") is None


# -- CLI ---------------------------------------------------------------------------------------


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["detect", "--source", "aws_cloudtrail", "--rules", RULES, *args])


def test_cli_s3_prints_falco_alert(aws: MotoServer, tmp_path: Path) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=BUCKET)
    create_user = record("CreateUser", "cu1", requestParameters={"userName": "mallory"})
    body = gzip.compress(json.dumps({"Records": [create_user]}).encode())
    s3.put_object(Bucket=BUCKET, Key=log_key(5, "a", prefix="trail/"), Body=body)
    state = tmp_path / "state.json"
    args = ["--input", f"s3://{BUCKET}/trail", "--aws-endpoint-url", aws.url, "--state-file", str(state)]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    assert "Informational A new AWS user has been created" in result.stdout
    assert "new user created=mallory" in result.stdout
    assert "events=1 alerts=1 skipped=0" in result.stderr
    assert state.exists()
    again = run_cli(*args)
    assert again.exit_code == 0 and again.stdout == ""
    assert "events=0 alerts=0" in again.stderr


def test_cli_missing_bucket_exits_2(aws: MotoServer, tmp_path: Path) -> None:
    result = run_cli(
        "--input", "s3://no-such-bucket/x", "--aws-endpoint-url", aws.url, "--state-file", str(tmp_path / "s")
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "yamori: error: cannot list s3://no-such-bucket/x/: NoSuchBucket: The specified bucket does not exist"
    ]


def test_cli_wrong_queue_exits_2(aws: MotoServer) -> None:
    result = run_cli("--sqs-queue", f"{aws.url}/{ACCOUNT}/nope", "--aws-endpoint-url", aws.url)
    assert result.exit_code == 2
    assert result.stderr.startswith("yamori: error: cannot use queue ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_without_credentials_exits_2(
    aws: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = run_cli("--input", f"s3://{BUCKET}/", "--aws-endpoint-url", aws.url)
    assert result.exit_code == 2
    assert "Unable to locate credentials" in result.stderr


def test_cli_usage_errors() -> None:
    assert run_cli("--input", "s3://b/", "--sqs-queue", "https://q").exit_code == 2
    assert run_cli("--input", "./logs", "--follow").exit_code == 2
