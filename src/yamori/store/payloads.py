"""What clients may submit, validated with pydantic before anything touches the database.

The shapes are those the CLI already prints (``yamori image -f json``, ``yamori cloud aws -f
json``, ``yamori detect --format json``), read leniently: unknown keys are ignored so a newer
CLI can talk to an older server, and only what the store needs is required. Text fields are kept
verbatim — a ``<script>`` in a title is data here; escaping is the console's job.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SeverityName = Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
SEVERITY_RANK = {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FindingPayload(_Lenient):
    """One finding as ``yamori`` JSON writes it (image and posture share the envelope)."""

    id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=32)
    rule_id: str = Field(min_length=1, max_length=256)
    title: str = ""
    severity: SeverityName
    status: str = Field(max_length=32)
    resource: str = Field(max_length=1024)
    sub_key: str = ""
    account: str = ""
    region: str = ""
    description: str = ""
    remediation: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    compliance: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    vulnerability: dict[str, Any] | None = None

    @field_validator("severity", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def stable_id(self) -> str:
        """``Finding.id`` when the client sent it; else computed the same way as the model does."""
        if self.id:
            return self.id
        parts = "\x1f".join((self.rule_id, self.account, self.region, self.resource, self.sub_key))
        return hashlib.sha256(parts.encode()).hexdigest()[:32]


class PackagePayload(_Lenient):
    name: str = Field(max_length=512)
    version: str = Field(max_length=256)
    type: str = Field(max_length=32)
    location: str = Field(default="", max_length=1024)
    purl: str = Field(default="", max_length=1024)
    licenses: list[str] = Field(default_factory=list)
    layer_digest: str | None = Field(default=None, max_length=128)
    layer_index: int | None = None


class ArtifactPayload(_Lenient):
    name: str = Field(min_length=1, max_length=1024)
    type: str = "container_image"
    digest: str = ""
    image_id: str = ""
    repo_tags: list[str] = Field(default_factory=list)
    repo_digests: list[str] = Field(default_factory=list)
    architecture: str = ""
    os_type: str = ""


class ImageScanPayload(_Lenient):
    """``yamori image|fs|host|sbom -f json``: one artifact, its packages and findings."""

    schema_version: int | None = None
    artifact: ArtifactPayload
    os: dict[str, Any] | None = None
    packages: list[PackagePayload] = Field(default_factory=list)
    findings: list[FindingPayload] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class PostureScanPayload(_Lenient):
    """``yamori cloud aws -f json``: scan metadata and every finding, PASS included."""

    schema_version: int | None = None
    scan: dict[str, Any] = Field(default_factory=dict)
    findings: list[FindingPayload] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class AlertPayload(_Lenient):
    """One alert in Falco's ``json_output`` shape (``yamori detect --format json``)."""

    time: str | int | float
    rule: str = Field(min_length=1, max_length=512)
    priority: str = Field(max_length=32)
    source: str = Field(default="syscall", max_length=64)
    output: str = ""
    output_fields: dict[str, Any] = Field(default_factory=dict)
    hostname: str = Field(default="", max_length=256)
    tags: list[str] = Field(default_factory=list)
    capture_ref: str | None = Field(default=None, max_length=1024)

    @field_validator("time")
    @classmethod
    def _parsable(cls, value: str | int | float) -> str | int | float:
        if isinstance(value, str):
            parse_time(value)  # ValueError → a 422 naming the field
        return value

    def timestamp(self) -> tuple[datetime, str]:
        """(naive UTC datetime, the exact original text) — Falco times carry nanoseconds."""
        if isinstance(self.time, int | float):
            # Nanoseconds since the epoch, as yamori's Alert holds it internally.
            seconds = float(self.time) / 1e9 if self.time > 1e12 else float(self.time)
            value = datetime.fromtimestamp(seconds, UTC)
            return value.replace(tzinfo=None), str(self.time)
        return parse_time(self.time), self.time


def parse_time(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds (Python parses at most microseconds) → naive UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    if "." in value:
        head, _, rest = value.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        value = f"{head}.{(digits + '000000')[:6]}{rest}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


class WorkloadPayload(_Lenient):
    """One container as ``yamori workloads -f json`` reports it (``sources/workloads``)."""

    id: str = Field(min_length=1, max_length=128)
    name: str = Field(default="", max_length=1024)
    image: str = Field(default="", max_length=1024)
    image_id: str = Field(default="", max_length=128)
    image_digest: str = Field(default="", max_length=128)
    state: str = Field(default="unknown", max_length=32)
    created: str = Field(default="", max_length=64)
    started: str = Field(default="", max_length=64)
    privileged: bool = False
    user: str = Field(default="", max_length=256)
    command: list[str] = Field(default_factory=list, max_length=256)
    labels: dict[str, str] = Field(default_factory=dict)
    mounts: list[str] = Field(default_factory=list, max_length=512)
    namespace: str = Field(default="", max_length=256)
    pod: str = Field(default="", max_length=256)
    k8s_container: str = Field(default="", max_length=256)
    pod_uid: str = Field(default="", max_length=128)
    pod_id: str = Field(default="", max_length=128)
    runtime: str = Field(default="", max_length=32)

    @field_validator("labels")
    @classmethod
    def _few_labels(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 512:
            raise ValueError("at most 512 labels per workload")
        return value


class WorkloadReportPayload(_Lenient):
    """A host's containers at one moment: containers of that host it does not list are no
    longer running."""

    schema_version: int | None = None
    host: str = Field(min_length=1, max_length=256)
    runtime: str = Field(default="podman", max_length=32)
    collected_at: str = ""
    workloads: list[WorkloadPayload] = Field(default_factory=list)
