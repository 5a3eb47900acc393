"""The contract of an AWS collector: one module per service, turning API answers into Resources.

Collectors follow the lesson of ScoutSuite over Prowler: collect once into a snapshot, then let
every policy read the snapshot. A collector therefore never evaluates anything and never hides a
failure: every call goes through ``CollectContext.call`` / ``paginate``, which count the calls,
apply the per-service rate limit, and turn an API error into data (``Resource.errors`` for one
attribute of one resource, ``CollectionError`` for a whole listing).

A collector module defines one subclass of ``Collector`` and registers it in
``sources/aws/registry.py`` (service name -> module), so adding a service is one new module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar, Literal, Protocol

from yamori.model.resource import Resource

__all__ = ["CallFailed", "CollectContext", "Collector", "Scope"]

Scope = Literal["global", "regional"]


class CallFailed(Exception):
    """An API call that failed after retries; ``str()`` is ``"Code: message"`` for findings."""

    def __init__(self, call: str, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.call = call  # "s3:GetBucketPolicy"
        self.code = code  # "AccessDenied", "NoSuchBucketPolicy", "UnsupportedOperation", ...


class CollectContext(Protocol):
    """What a collector gets for one (account, region): clients, call accounting, error records."""

    account: str
    region: str  # the region being collected ("us-east-1" for global services' home region)

    def client(self, service: str) -> Any:
        """The boto3 client for ``service`` in this account and region (from the session factory)."""

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """Call ``client(service).<operation>(**params)`` (snake_case operation name), counted and
        rate-limited; raises ``CallFailed`` on an API error (after the client's retries)."""

    def paginate(self, service: str, operation: str, result_key: str, **params: Any) -> list[Any]:
        """All items of a paginated listing (``result_key``: the list in each page)."""

    def in_region(self, region: str) -> CollectContext:
        """This context for another region (same account, counters, limits and error records)."""

    def listing_failed(self, kind: str, error: CallFailed) -> None:
        """Record that no resource of ``kind`` could be listed here (policies over it give ERROR)."""


class Collector(ABC):
    """Collects the resources of one AWS service.

    ``scope = "global"`` collectors (IAM, Organizations, S3 bucket listing) run once per account;
    ``"regional"`` ones once per account and enabled region, in parallel.
    """

    service: ClassVar[str]  # "s3"; also the rate-limit bucket
    scope: ClassVar[Scope]
    kinds: ClassVar[tuple[str, ...]]  # resource kinds produced, e.g. ("aws.s3.bucket",)

    @abstractmethod
    def collect(self, ctx: CollectContext) -> Iterable[Resource]:
        """Yield resources. A per-resource call that fails goes into that resource's ``errors``
        under the attribute it would have filled (``CallFailed`` str as the message); an expected
        "not configured" answer (``NoSuchBucketPolicy``) is a value (None), not an error."""
