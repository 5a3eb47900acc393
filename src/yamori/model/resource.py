"""`Resource`: a typed configuration object, the same shape whether it came from an AWS API, a
Terraform block, a CloudFormation resource or a Kubernetes manifest.

Why one shape: a policy is written once against a kind (``aws.s3.bucket``) and its attributes,
and evaluates live cloud and infrastructure-as-code alike. Attributes are plain JSON-like values
(dicts, lists, str, int, float, bool, None) named as the AWS API returns them (PascalCase, e.g.
``PublicAccessBlockConfiguration.BlockPublicAcls``), so the live collector is a thin mapping and
IaC adapters translate to it. Three things travel beside the values:

- ``UNKNOWN`` may appear anywhere in the value tree: the source could not know the value (an
  unresolved Terraform variable). A policy that reads it gives UNKNOWN, never FAIL.
- ``errors`` maps an attribute (a top-level key, or ``"*"`` for the whole resource) to the API
  error that kept it from being collected (``"AccessDenied: s3:GetBucketPolicy"``). A policy that
  reads it gives ERROR with that message: a failed call is never a silently missing result.
- ``origins`` maps an attribute path to where its value came from (``main.tf:12`` or the API
  call), so a finding can point at the line to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["UNKNOWN", "CollectionError", "Resource", "Snapshot", "Unknown"]

SNAPSHOT_FORMAT: Final = 1


class Unknown:
    """The one value a source could not determine (singleton: compare with ``is UNKNOWN``)."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value: test it with `is UNKNOWN`")


UNKNOWN: Final = Unknown()


@dataclass(slots=True)
class Resource:
    """One configuration object.

    ``id`` is stable across scans (ARN, Terraform address, Kubernetes uid); ``kind`` is
    ``<provider>.<service>.<type>`` (``aws.iam.user``). Settings that belong to no single object
    get synthetic kinds, so "is it enabled here?" is a policy over one resource: ``aws.account``
    (one per account: password policy, account summary, root credentials, contacts) and
    ``aws.<service>.settings`` (one per account and region: ``aws.ec2.settings`` for EBS default
    encryption, ``aws.config.settings`` for recorders and their status, ``aws.securityhub.settings``,
    ``aws.accessanalyzer.settings``) — emitted even when nothing is configured there.
    """

    kind: str
    id: str
    name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    account: str = ""
    region: str = ""  # "" for global resources (IAM); "global" is never used
    tags: dict[str, str] = field(default_factory=dict)
    source: str = "aws"  # aws | terraform | cloudformation | kubernetes | dockerfile | image
    location: str = ""  # where the resource is declared: "main.tf:10", or "" for live objects
    origins: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``UNKNOWN`` becomes ``{"$unknown": true}``)."""
        return {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "account": self.account,
            "region": self.region,
            "source": self.source,
            "location": self.location,
            "tags": self.tags,
            "attributes": _encode(self.attributes),
            "origins": self.origins,
            "errors": self.errors,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Resource:
        return cls(
            kind=doc["kind"],
            id=doc["id"],
            name=doc.get("name", ""),
            attributes=_decode(doc.get("attributes", {})),
            account=doc.get("account", ""),
            region=doc.get("region", ""),
            tags=dict(doc.get("tags", {})),
            source=doc.get("source", "aws"),
            location=doc.get("location", ""),
            origins=dict(doc.get("origins", {})),
            errors=dict(doc.get("errors", {})),
        )


_UNKNOWN_JSON: Final = {"$unknown": True}


def _encode(value: Any) -> Any:
    if value is UNKNOWN:
        return dict(_UNKNOWN_JSON)
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if value == _UNKNOWN_JSON:
            return UNKNOWN
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class CollectionError:
    """A listing that failed as a whole (no resources of ``kind`` could be seen there).

    Policies over ``kind`` report ERROR for that account and region instead of passing on an
    empty list.
    """

    kind: str
    account: str
    region: str
    call: str  # "s3:ListBuckets"
    message: str  # "AccessDenied: User ... is not authorized"

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "account": self.account,
            "region": self.region,
            "call": self.call,
            "message": self.message,
        }


@dataclass(slots=True)
class Snapshot:
    """Everything one collection saw, stored so policies can re-run without calling the cloud."""

    provider: str  # "aws"
    taken_at: str  # RFC 3339 UTC
    accounts: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    errors: list[CollectionError] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)  # "s3:ListBuckets" -> count
    format: int = SNAPSHOT_FORMAT

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "provider": self.provider,
            "taken_at": self.taken_at,
            "accounts": self.accounts,
            "regions": self.regions,
            "api_calls": self.api_calls,
            "errors": [e.to_json() for e in self.errors],
            "resources": [r.to_json() for r in self.resources],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Snapshot:
        if doc.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(
                f"unsupported snapshot format {doc.get('format')!r} (expected {SNAPSHOT_FORMAT})"
            )
        return cls(
            provider=doc["provider"],
            taken_at=doc["taken_at"],
            accounts=list(doc.get("accounts", [])),
            regions=list(doc.get("regions", [])),
            resources=[Resource.from_json(r) for r in doc.get("resources", [])],
            errors=[CollectionError(**e) for e in doc.get("errors", [])],
            api_calls=dict(doc.get("api_calls", {})),
        )
