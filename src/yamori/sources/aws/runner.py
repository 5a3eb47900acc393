"""Run collectors over accounts and regions into one ``Snapshot``: bounded parallelism, a rate
limit per service, every API call counted, every failure recorded as data.

Why a token bucket per service on top of botocore's adaptive retries: adaptive retries react
after AWS has already throttled us — and throttling is shared with the production workloads of
the account. The bucket keeps yamori under a steady rate (``DEFAULT_RATES``) so an hourly scan
never becomes the reason a deploy fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from yamori.model.resource import CollectionError, Resource, Snapshot
from yamori.sources.aws.interface import CallFailed, Collector
from yamori.sources.aws.session import SessionFactory

__all__ = ["AccountTarget", "RateLimits", "RunContext", "collect_snapshot", "enabled_regions"]

log = logging.getLogger(__name__)

DEFAULT_RATE = 20.0  # calls per second per service and account, when not listed below
DEFAULT_RATES: dict[str, float] = {"iam": 10.0, "organizations": 5.0, "sts": 5.0}
HOME_REGION = "us-east-1"


class _TokenBucket:
    """``rate`` calls per second, bursts of ``rate`` (thread-safe, sleeps outside the lock)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> None:
        if self.rate <= 0:
            return
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            time.sleep(wait)


@dataclass
class RateLimits:
    """Token buckets per (account, service), created on first use."""

    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    default: float = DEFAULT_RATE
    _buckets: dict[tuple[str, str], _TokenBucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, account: str, service: str) -> None:
        key = (account, service)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _TokenBucket(self.rates.get(service, self.default))
        bucket.take()


def _call_failed(call: str, exc: Exception) -> CallFailed:
    """A ``CallFailed`` from a botocore error (ClientError carries AWS's code and message)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {})
        code = str(err.get("Code") or "Error")
        message = str(err.get("Message") or exc)
        return CallFailed(call, code, message)
    return CallFailed(call, type(exc).__name__, str(exc))


@dataclass
class RunContext:
    """``CollectContext`` for one account and region."""

    factory: SessionFactory
    account: str
    region: str
    limits: RateLimits
    calls: Counter[str]
    errors: list[CollectionError]
    lock: threading.Lock

    def client(self, service: str) -> Any:
        return self.factory.client(service, self.region)

    def _call_name(self, service: str, operation: str) -> str:
        """``iam:ListMFADevices``: the API's own spelling (``_camel`` would give ``ListMfaDevices``)."""
        mapping = getattr(getattr(self.client(service), "meta", None), "method_to_api_mapping", {})
        return f"{service}:{mapping.get(operation) or _camel(operation)}"

    def _invoke(self, service: str, operation: str, fn: Callable[[], Any], *, count: bool = True) -> Any:
        import botocore.exceptions
        import botocore.parsers

        call = self._call_name(service, operation)
        self.limits.take(self.account, service)
        if count:
            with self.lock:
                self.calls[call] += 1
        try:
            return fn()
        except (
            botocore.exceptions.ClientError,
            botocore.exceptions.BotoCoreError,
            botocore.parsers.ResponseParserError,  # an answer botocore cannot parse (not a BotoCoreError)
        ) as exc:
            raise _call_failed(call, exc) from exc

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        client = self.client(service)
        result: dict[str, Any] = self._invoke(
            service, operation, lambda: getattr(client, operation)(**params)
        )
        return result

    def paginate(self, service: str, operation: str, result_key: str, **params: Any) -> list[Any]:
        """Pages fetched one call at a time, so each page is counted and rate-limited."""
        client = self.client(service)
        pages = iter(client.get_paginator(operation).paginate(**params))
        items: list[Any] = []
        while True:
            page = self._invoke(service, operation, lambda: next(pages, None), count=False)
            if page is None:  # the paginator saw no next token: no request was sent
                return items
            with self.lock:
                self.calls[self._call_name(service, operation)] += 1
            items.extend(page.get(result_key) or [])

    def in_region(self, region: str) -> RunContext:
        """The same account, counters and limits, with clients for ``region`` (S3 buckets live in
        their own region although the bucket listing is global)."""
        return replace(self, region=region)

    def listing_failed(self, kind: str, error: CallFailed) -> None:
        log.warning("%s in %s/%s: %s", error.call, self.account, self.region or "global", error)
        with self.lock:
            self.errors.append(CollectionError(kind, self.account, self.region, error.call, str(error)))


def _camel(operation: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in operation.split("_"))


@dataclass(frozen=True)
class AccountTarget:
    """One account to scan, reached with ``factory`` (the caller's, or an assumed role's)."""

    factory: SessionFactory
    account: str


def enabled_regions(factory: SessionFactory, limits: RateLimits | None = None) -> list[str]:
    """Regions enabled for the account (``ec2:DescribeRegions``), sorted."""
    ec2 = factory.client("ec2", factory.session().region_name or HOME_REGION)
    if limits is not None:
        limits.take("", "ec2")
    answer = ec2.describe_regions(AllRegions=False)
    return sorted(r["RegionName"] for r in answer.get("Regions", []))


def collect_snapshot(
    targets: Sequence[AccountTarget],
    regions: Sequence[str],
    collectors: Iterable[Collector],
    *,
    workers: int = 8,
    limits: RateLimits | None = None,
    on_done: Callable[[str, str, str], None] | None = None,
) -> Snapshot:
    """Run every collector for every account (global ones once, regional ones per region).

    ``on_done(account, region, service)`` is called after each unit (for progress bars). An
    exception a collector did not expect is recorded as a ``CollectionError`` for all its kinds
    in that place — one broken collector never loses what the others collected.
    """
    limits = limits or RateLimits()
    collectors = list(collectors)
    calls: Counter[str] = Counter()
    errors: list[CollectionError] = []
    lock = threading.Lock()
    resources: list[Resource] = []
    units: list[tuple[AccountTarget, str, Collector]] = []
    for target in targets:
        for collector in collectors:
            if collector.scope == "global":
                units.append((target, "", collector))
            else:
                units.extend((target, region, collector) for region in regions)

    def run(unit: tuple[AccountTarget, str, Collector]) -> list[Resource]:
        target, region, collector = unit
        ctx = RunContext(target.factory, target.account, region or HOME_REGION, limits, calls, errors, lock)
        try:
            found = list(collector.collect(ctx))
        except CallFailed as exc:
            for kind in collector.kinds:
                ctx.listing_failed(kind, exc)
            found = []
        except Exception as exc:  # a collector bug: keep going, say where
            log.exception("collector %s failed in %s/%s", collector.service, target.account, region)
            message = f"{type(exc).__name__}: {exc}"
            with lock:
                errors.extend(
                    CollectionError(kind, target.account, region, f"{collector.service}:*", message)
                    for kind in collector.kinds
                )
            found = []
        for resource in found:
            resource.account = resource.account or target.account
            if collector.scope == "regional":
                resource.region = resource.region or region
        if on_done is not None:
            on_done(target.account, region, collector.service)
        return found

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="aws-collect") as pool:
        for found in pool.map(run, units):
            resources.extend(found)
    return Snapshot(
        provider="aws",
        taken_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        accounts=sorted({t.account for t in targets}),
        regions=list(regions),
        resources=resources,
        errors=errors,
        api_calls=dict(sorted(calls.items())),
    )
