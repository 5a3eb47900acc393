"""CloudTrail records straight from AWS: an S3 follower over a trail's bucket and an SQS reader.

Both read log objects through ``SessionFactory`` (adaptive retries, endpoint override) and parse
them with ``cloudtrail_log_events``, the same parser as the file input. Both are at-least-once:
an object is recorded as done (S3) or its message deleted (SQS) only after the consumer pulled
past its last record, so a crash re-reads at most what was in flight and never loses an object.

S3 layout: CloudTrail writes ``[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/
<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<random>.json.gz``. Keys of one account and
region ("a stream") sort by time, keys of different streams do not, so the follower lists each
stream on its own, starting a lookback window before the newest object it has processed: that
window catches late deliveries (an object whose key time is earlier than keys already seen) and
bounds both the listing and the set of processed keys kept in the state file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from yamori.detect.fields.cloudtrail import CloudTrailEvent
from yamori.detect.inputs import MAX_CLOUDTRAIL_LOG, CloudTrailLogError, InputStats, cloudtrail_log_events
from yamori.sources.aws.session import SessionFactory

__all__ = [
    "DEFAULT_LOOKBACK",
    "CloudTrailInputError",
    "S3CloudTrailFollower",
    "S3Location",
    "SqsCloudTrailReader",
    "default_state_file",
    "notification_objects",
    "open_cloudtrail_stream",
    "parse_s3_url",
    "parse_since",
]

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK = timedelta(hours=1)  # CloudTrail delivers up to ~15 min late; 4x margin
STATE_VERSION = 1
MAX_TRANSIENT_ATTEMPTS = 3  # polls an object may fail transiently before it is given up
SAVE_INTERVAL = 2.0  # seconds between state saves while objects stream by
_DISCOVERY_DEPTH = 6  # prefix levels walked looking for ``CloudTrail/`` (prefix/AWSLogs/o-org/acct)
_SKIPPED_DIRS = frozenset({"CloudTrail-Digest", "CloudTrail-Insight"})
_TRANSIENT_CODES = frozenset(
    {"Throttling", "ThrottlingException", "SlowDown", "RequestTimeout", "InternalError",
     "ServiceUnavailable", "RequestLimitExceeded", "TooManyRequestsException"}
)  # fmt: skip


class CloudTrailInputError(Exception):
    """The S3 or SQS input cannot start (no bucket, no queue, no credentials); one line for the CLI."""


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_s3_url(url: str) -> S3Location:
    """``s3://bucket[/prefix]``; the prefix gets a trailing ``/`` so ``logs`` never matches ``logs2``."""
    if not url.startswith("s3://"):
        raise CloudTrailInputError(f"{url!r} is not an s3://bucket/prefix URL")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise CloudTrailInputError(f"{url!r} has no bucket name")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return S3Location(bucket, prefix)


def parse_since(text: str) -> datetime:
    """An ISO date or date-time (``2024-05-01``, ``2024-05-01T12:00Z``); naive means UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CloudTrailInputError(f"--since {text!r} is not an ISO date (YYYY-MM-DD[THH:MM[Z]])") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def default_state_file(location: S3Location) -> Path:
    """``<data dir>/detect/cloudtrail-s3-<bucket>-<hash>.json``: one file per bucket and prefix."""
    from yamori.config import data_dir

    digest = hashlib.sha256(f"{location.bucket}/{location.prefix}".encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9.-]", "_", location.bucket)
    return data_dir() / "detect" / f"cloudtrail-s3-{safe}-{digest}.json"


def _is_log_key(key: str) -> bool:
    """A CloudTrail log object, not a digest or Insights file, nor anything else in the bucket."""
    if not (key.endswith(".json.gz") or key.endswith(".json")):
        return False
    return not _SKIPPED_DIRS.intersection(key.split("/"))


# -- reading one object -----------------------------------------------------------------------


class _ObjectError(Exception):
    """One object could not be read; ``transient`` says whether trying again later may work."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def _aws_error(exc: Exception) -> tuple[str, bool, str]:
    """(one-line message, transient?, error code) for a botocore or connection error."""
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"{code}: {error.get('Message', '')}".rstrip(": ")
        return message, code in _TRANSIENT_CODES or status >= 500, code
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__, True, ""


def _aws_exceptions() -> tuple[type[Exception], ...]:
    import botocore.exceptions

    return (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError)


def _get_bytes(s3: Any, bucket: str, key: str, limit: int) -> bytes:
    """The object's bytes; refuses before downloading when S3 says it is larger than ``limit``."""
    response = s3.get_object(Bucket=bucket, Key=key)
    body = response["Body"]
    try:
        if int(response.get("ContentLength") or 0) > limit:
            raise _ObjectError(f"larger than {limit} bytes", transient=False)
        data: bytes = body.read(limit + 1)
    finally:
        body.close()
    return data


def _fetch_events(
    s3: Any, bucket: str, key: str, stats: InputStats, limit: int, decode_fallback: bool = False
) -> list[CloudTrailEvent]:
    """The records of ``s3://bucket/key``, or ``_ObjectError`` saying why not.

    ``decode_fallback``: on ``NoSuchKey`` retry with the key URL-decoded, for notification
    senders whose key encoding is not documented consistently (EventBridge, SNS relays).
    """
    try:
        data = _get_bytes(s3, bucket, key, limit)
    except _aws_exceptions() as exc:
        message, transient, code = _aws_error(exc)
        decoded = unquote_plus(key)
        if decode_fallback and code == "NoSuchKey" and decoded != key:
            return _fetch_events(s3, bucket, decoded, stats, limit)
        raise _ObjectError(message, transient) from None
    try:
        return cloudtrail_log_events(data, stats, limit)
    except CloudTrailLogError as exc:
        raise _ObjectError(str(exc), transient=False) from None


# -- S3 follower -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Object:
    key: str
    modified: float  # S3 LastModified, epoch seconds (the delivery time, on S3's clock)
    size: int


@dataclass(slots=True)
class _State:
    """What the state file holds: the delivery-time watermark and the keys done since it.

    ``watermark`` is the newest LastModified processed. Every later object has a LastModified at
    or after it and a key time at most the delivery delay earlier, so listing each stream from
    ``watermark - lookback`` finds it, and a done key whose LastModified is before that can
    never be listed again: it is pruned.
    """

    watermark: float | None = None
    done: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, location: S3Location) -> _State:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise CloudTrailInputError(f"state file {path}: cannot read it: {exc}") from None
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            raise CloudTrailInputError(f"state file {path}: not a yamori CloudTrail state file")
        if (doc.get("bucket"), doc.get("prefix")) != (location.bucket, location.prefix):
            raise CloudTrailInputError(
                f"state file {path} belongs to s3://{doc.get('bucket')}/{doc.get('prefix')}, not {location}"
            )
        watermark = doc.get("watermark")
        done = doc.get("done") or {}
        return cls(
            float(watermark) if isinstance(watermark, int | float) else None,
            {str(k): float(v) for k, v in done.items() if isinstance(v, int | float)},
        )

    def save(self, path: Path, location: S3Location) -> None:
        """Write atomically (temp file in the same directory, fsync, rename): never half a file."""
        doc = {
            "version": STATE_VERSION,
            "bucket": location.bucket,
            "prefix": location.prefix,
            "watermark": self.watermark,
            "done": self.done,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _stream_start_after(stream: str, moment: datetime) -> str | None:
    """The key to list a CloudTrail stream after so that objects from ``moment`` on are included.

    ``stream`` is ``…/<account>/CloudTrail/<region>/``; file names within it share the prefix
    ``<account>_CloudTrail_<region>_`` and then the UTC minute, so they sort by time.
    """
    parts = stream.split("/")
    if len(parts) < 4 or parts[-3] != "CloudTrail":
        return None
    account, region = parts[-4], parts[-2]
    return f"{stream}{moment:%Y/%m/%d}/{account}_CloudTrail_{region}_{moment:%Y%m%dT%H%M}Z"


class S3CloudTrailFollower:
    """CloudTrail records from the log objects under ``s3://bucket/prefix``, oldest delivery first.

    One poll lists every stream (account/region) from the lower bound (``watermark - lookback``,
    else ``since``, else the beginning), reads the objects not done yet in LastModified order and
    yields their records. With ``follow`` it polls again every ``poll_interval`` seconds until
    ``stop`` is set or ``max_polls`` polls ran (test hooks; the CLI runs until Ctrl-C).
    """

    def __init__(
        self,
        factory: SessionFactory,
        location: S3Location,
        stats: InputStats,
        *,
        state_file: Path | None = None,
        since: datetime | None = None,
        follow: bool = False,
        poll_interval: float = 60.0,
        lookback: timedelta = DEFAULT_LOOKBACK,
        rediscover_interval: float = 300.0,
        max_polls: int | None = None,
        stop: threading.Event | None = None,
        max_object_size: int = MAX_CLOUDTRAIL_LOG,
    ) -> None:
        self.location = location
        self.stats = stats
        self.state_file = state_file or default_state_file(location)
        self.since = since
        self.follow = follow
        self.poll_interval = poll_interval
        self.lookback = lookback.total_seconds()
        self.rediscover_interval = rediscover_interval
        self.max_polls = max_polls if follow else 1
        self.stop = stop or threading.Event()
        self.max_object_size = max_object_size
        self._s3 = factory.client("s3")
        self._state = _State.load(self.state_file, location)
        self._streams: list[str] = []
        self._discovered_at = float("-inf")
        self._failures: dict[str, int] = {}
        self._pending: dict[str, float] = {}  # transient failures still to retry: key -> modified
        self._saved_at = time.monotonic()

    def check(self) -> None:
        """Fail fast with a one-line error when the bucket cannot be listed (missing, denied, no creds)."""
        try:
            self._s3.list_objects_v2(Bucket=self.location.bucket, Prefix=self.location.prefix, MaxKeys=1)
        except _aws_exceptions() as exc:
            message, _, _ = _aws_error(exc)
            raise CloudTrailInputError(f"cannot list {self.location}: {message}") from None

    def events(self) -> Generator[CloudTrailEvent, None, None]:
        """The records, poll after poll; the state is saved when the generator ends or is closed."""
        polls = 0
        try:
            while not self.stop.is_set():
                yield from self._poll()
                polls += 1
                if self.max_polls is not None and polls >= self.max_polls:
                    break
                self.stop.wait(self.poll_interval)
        finally:
            self.save()

    def save(self) -> None:
        self._state.save(self.state_file, self.location)
        self._saved_at = time.monotonic()

    # -- one poll ---------------------------------------------------------------------------

    def _poll(self) -> Generator[CloudTrailEvent, None, None]:
        try:
            batch = self._list_new()
        except _aws_exceptions() as exc:
            log.warning("cannot list %s (retrying next poll): %s", self.location, _aws_error(exc)[0])
            return
        for obj in batch:
            if self.stop.is_set():
                return
            try:
                events = _fetch_events(
                    self._s3, self.location.bucket, obj.key, self.stats, self.max_object_size
                )
            except _ObjectError as exc:
                self._failed(obj, exc)
                continue
            yield from events
            self._done(obj)  # reached only once the consumer asked for what comes after
        self._advance()
        self.save()

    def _list_new(self) -> list[_Object]:
        """Objects listed from the lower bound that are not done yet, in delivery order."""
        lower = self._lower_bound()
        found: dict[str, _Object] = {}
        for stream in self._current_streams():
            start_after = _stream_start_after(stream, lower) if lower is not None else None
            for obj in self._list(stream, start_after):
                too_old = lower is not None and obj.modified < lower.timestamp()
                if obj.key not in self._state.done and not too_old and _is_log_key(obj.key):
                    found[obj.key] = obj
        return sorted(found.values(), key=lambda o: (o.modified, o.key))

    def _lower_bound(self) -> datetime | None:
        if self._state.watermark is not None:
            return datetime.fromtimestamp(self._state.watermark - self.lookback, UTC)
        return self.since

    def _list(self, prefix: str, start_after: str | None) -> Iterable[_Object]:
        params: dict[str, Any] = {"Bucket": self.location.bucket, "Prefix": prefix}
        if start_after is not None:
            params["StartAfter"] = start_after
        for page in self._s3.get_paginator("list_objects_v2").paginate(**params):
            for item in page.get("Contents", []):
                yield _Object(item["Key"], item["LastModified"].timestamp(), int(item.get("Size", 0)))

    def _current_streams(self) -> list[str]:
        """The account/region prefixes, rediscovered every ``rediscover_interval`` seconds.

        With no CloudTrail layout under the prefix (logs copied elsewhere), the prefix itself is
        the one stream: listed whole every poll, with only the LastModified bound to skip by.
        """
        now = time.monotonic()
        if now - self._discovered_at >= self.rediscover_interval:
            streams = self._discover(self.location.prefix, 0)
            self._streams = streams or [self.location.prefix]
            self._discovered_at = now
        return self._streams

    def _discover(self, prefix: str, depth: int) -> list[str]:
        if _stream_start_after(prefix, datetime.now(UTC)) is not None:
            return [prefix]  # the prefix given is already one account/region
        if depth >= _DISCOVERY_DEPTH:
            return []
        streams: list[str] = []
        for child in self._children(prefix):
            name = child[len(prefix) :].rstrip("/")
            if name == "CloudTrail":
                streams.extend(self._children(child))
            elif name not in _SKIPPED_DIRS:
                streams.extend(self._discover(child, depth + 1))
        return streams

    def _children(self, prefix: str) -> list[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        children: list[str] = []
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix, Delimiter="/"):
            children.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        return children

    # -- bookkeeping ------------------------------------------------------------------------

    def _done(self, obj: _Object) -> None:
        self._state.done[obj.key] = obj.modified
        self._pending.pop(obj.key, None)
        self._failures.pop(obj.key, None)
        if time.monotonic() - self._saved_at >= SAVE_INTERVAL:
            self.save()

    def _failed(self, obj: _Object, exc: _ObjectError) -> None:
        """Count and log; retry a transient failure on the next polls, give up on anything else."""
        self.stats.add(skipped=1)
        attempts = self._failures.get(obj.key, 0) + 1
        if exc.transient and attempts < MAX_TRANSIENT_ATTEMPTS:
            self._failures[obj.key] = attempts
            self._pending[obj.key] = obj.modified
            log.warning("s3://%s/%s: %s (retrying next poll)", self.location.bucket, obj.key, exc)
            return
        log.warning("skipping s3://%s/%s: %s", self.location.bucket, obj.key, exc)
        self._done(obj)

    def _advance(self) -> None:
        """Move the watermark to the newest done object, never past one still to be retried."""
        if not self._state.done:
            return
        newest = max(self._state.done.values())
        if self._pending:
            newest = min(newest, min(self._pending.values()))
        if self._state.watermark is None or newest > self._state.watermark:
            self._state.watermark = newest
        floor = self._state.watermark - self.lookback
        self._state.done = {k: v for k, v in self._state.done.items() if v >= floor}


# -- SQS reader --------------------------------------------------------------------------------


def _s3_event_objects(doc: dict[str, Any]) -> list[tuple[str, str]] | None:
    """S3 event notification: ``Records[].s3``; keys are URL-encoded (``+`` for a space)."""
    records = doc.get("Records")
    if not isinstance(records, list):
        return None
    objects: list[tuple[str, str]] = []
    for record in records:
        s3 = record.get("s3") if isinstance(record, dict) else None
        if not isinstance(s3, dict):
            return None
        name = str(record.get("eventName", "ObjectCreated:"))
        if not name.removeprefix("s3:").startswith("ObjectCreated"):
            continue  # removals, restores, ...: nothing to read
        bucket = (s3.get("bucket") or {}).get("name")
        key = (s3.get("object") or {}).get("key")
        if not isinstance(bucket, str) or not isinstance(key, str):
            return None
        objects.append((bucket, unquote_plus(key)))
    return objects


def notification_objects(body: str) -> list[tuple[str, str]] | None:
    """The (bucket, key) pairs a queue message announces; ``[]`` for a test event, None if unknown.

    Accepted: S3 event notifications, the same inside an SNS envelope, CloudTrail's own SNS
    notification (``s3Bucket`` + ``s3ObjectKey[]``, raw or in an envelope) and EventBridge's
    "Object Created".
    """
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        return notification_objects(doc["Message"])
    if doc.get("Event") == "s3:TestEvent":
        return []
    if "Records" in doc:
        return _s3_event_objects(doc)
    if isinstance(doc.get("s3Bucket"), str) and isinstance(doc.get("s3ObjectKey"), list):
        return [(doc["s3Bucket"], str(key)) for key in doc["s3ObjectKey"]]
    detail = doc.get("detail")
    if doc.get("detail-type") == "Object Created" and isinstance(detail, dict):
        bucket = (detail.get("bucket") or {}).get("name")
        key = (detail.get("object") or {}).get("key")
        if isinstance(bucket, str) and isinstance(key, str):
            return [(bucket, key)]
    return None


def _queue_region(queue_url: str) -> str | None:
    """The region in ``https://sqs.<region>.amazonaws.com/...``: a queue is only reachable there."""
    match = re.match(r"https://sqs[.-]([a-z0-9-]+)\.amazonaws\.com(\.cn)?/", queue_url)
    return match.group(1) if match else None


class SqsCloudTrailReader:
    """CloudTrail records from the objects announced on an SQS queue.

    Each message's objects are read and their records yielded; the message is deleted once the
    consumer pulled past the last of them. A message whose object failed transiently (throttled
    past the retries, a network error) is left to come back after its visibility timeout. A
    message that is not understood is counted as skipped and left on the queue too: deleting it
    would lose something we may simply fail to parse, whereas a redrive policy moves it to a
    dead-letter queue where it can be looked at. Without ``follow`` the reader stops at the
    first empty receive (drain the queue); with it, it long-polls until ``stop``/``max_polls``.
    """

    def __init__(
        self,
        factory: SessionFactory,
        queue_url: str,
        stats: InputStats,
        *,
        follow: bool = True,
        wait_time: int = 20,
        max_polls: int | None = None,
        stop: threading.Event | None = None,
        max_object_size: int = MAX_CLOUDTRAIL_LOG,
    ) -> None:
        self.queue_url = queue_url
        self.stats = stats
        self.follow = follow
        self.wait_time = wait_time
        self.max_polls = max_polls
        self.stop = stop or threading.Event()
        self.max_object_size = max_object_size
        self._sqs = factory.client("sqs", _queue_region(queue_url))
        self._s3 = factory.client("s3")

    def check(self) -> None:
        """Fail fast with a one-line error when the queue is wrong or cannot be read."""
        try:
            self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        except _aws_exceptions() as exc:
            message, _, _ = _aws_error(exc)
            raise CloudTrailInputError(f"cannot use queue {self.queue_url}: {message}") from None

    def events(self) -> Generator[CloudTrailEvent, None, None]:
        polls = 0
        while not self.stop.is_set():
            if self.max_polls is not None and polls >= self.max_polls:
                return
            polls += 1
            messages = self._receive()
            if messages is None:
                if not self.follow:
                    return
                self.stop.wait(min(self.wait_time, 5) or 0.05)  # failing receive: do not spin
                continue
            if not messages and not self.follow:
                return
            for message in messages:
                yield from self._handle(message)

    def _receive(self) -> list[dict[str, Any]] | None:
        try:
            response = self._sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait_time
            )
        except _aws_exceptions() as exc:
            log.warning("cannot receive from %s: %s", self.queue_url, _aws_error(exc)[0])
            return None
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _handle(self, message: dict[str, Any]) -> Generator[CloudTrailEvent, None, None]:
        objects = notification_objects(str(message.get("Body", "")))
        if objects is None:
            self.stats.add(skipped=1)
            log.warning("%s: message %s is not an S3 object notification (left for the redrive policy)",
                        self.queue_url, message.get("MessageId"))  # fmt: skip
            return
        retry = False
        for bucket, key in objects:
            if not _is_log_key(key):
                continue
            try:
                events = _fetch_events(self._s3, bucket, key, self.stats, self.max_object_size, True)
            except _ObjectError as exc:
                self.stats.add(skipped=1)
                retry = retry or exc.transient
                log.warning("skipping s3://%s/%s: %s", bucket, key, exc)
                continue
            yield from events
        if not retry:
            self._delete(message)

    def _delete(self, message: dict[str, Any]) -> None:
        try:
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        except _aws_exceptions() as exc:
            log.warning("cannot delete message %s: %s", message.get("MessageId"), _aws_error(exc)[0])


# -- the CLI's entry point ---------------------------------------------------------------------


def open_cloudtrail_stream(
    factory: SessionFactory,
    stats: InputStats,
    *,
    s3_url: str | None = None,
    sqs_queue: str | None = None,
    follow: bool = False,
    poll_interval: float = 60.0,
    state_file: Path | None = None,
    since: str | None = None,
    stop: threading.Event | None = None,
) -> Generator[CloudTrailEvent, None, None]:
    """A checked record stream for ``yamori detect``; ``CloudTrailInputError`` if it cannot start.

    Close the generator (``contextlib.closing``) to save the S3 follower's state on Ctrl-C.
    """
    import botocore.exceptions

    try:
        if sqs_queue is not None:
            reader = SqsCloudTrailReader(factory, sqs_queue, stats, follow=follow, stop=stop)
            reader.check()
            return reader.events()
        if s3_url is None:
            raise CloudTrailInputError("an s3:// input or an SQS queue is needed")
        follower = S3CloudTrailFollower(
            factory,
            parse_s3_url(s3_url),
            stats,
            state_file=state_file,
            since=parse_since(since) if since else None,
            follow=follow,
            poll_interval=poll_interval,
            stop=stop,
        )
        follower.check()
        return follower.events()
    except botocore.exceptions.BotoCoreError as exc:  # no region, bad profile, ...
        raise CloudTrailInputError(str(exc).splitlines()[0]) from None
