"""Drift between Terraform state and a stored cloud snapshot: what changed outside Terraform.

Three lists, from one join (``yamori.iac.links``):

- **drifted attributes**: for a resource in both, each attribute the state *states* whose live
  value differs. "States" is decided against an empty block of the same type: the adapter fills
  AWS defaults for what a block leaves out (Block Public Access on, SSE-S3...), and a state
  entry that never mentions encryption says nothing about it, so only paths whose value differs
  from that empty block's are compared. Values are normalised first (:func:`normalise`).
- **unmanaged**: live resources of the kinds the state manages, in the regions it manages, that
  no state entry maps to — AWS-created defaults (default VPC, security group, network ACL),
  service-linked roles and AWS-managed policies excepted.
- **missing**: state entries with no live resource, only where the snapshot looked (the kind's
  service was called in that region without a listing error): a state entry for IAM is not
  "missing" from a snapshot taken with ``--services s3``; it is *unchecked*.

Why state and not the code: state is what Terraform last applied and read back, with real ids;
it is Terraform's own notion of drift. The code (``--code``) only adds the line to change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from yamori.iac.links import CodeIndex, Declared, split_location
from yamori.model.resource import UNKNOWN, Resource, Snapshot
from yamori.sources.iac import is_reference

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "AttributeDrift",
    "DriftReport",
    "Missing",
    "Unmanaged",
    "compute_drift",
    "normalise",
    "plain",
]

# Assigned or maintained by AWS, never a setting the code chose: not compared.
AWS_ASSIGNED: Final = frozenset(
    {
        "CreationDate",
        "CreateDate",
        "LaunchTime",
        "OwnerId",
        "UserId",
        "RoleId",
        "PolicyId",
        "BucketRegion",
        "KeyState",
        "State",
        "StateValue",
        "LifeCycleState",
        "NumberOfMountTargets",
        "AttachmentCount",
        "RoleLastUsed",
        "PasswordLastUsed",
        "platformVersion",
        "HomeRegion",
    }
)
# Attributes holding an IAM-style policy document (parsed JSON on both sides, or a JSON string).
POLICY_KEYS: Final = frozenset(
    {"Policy", "FileSystemPolicy", "AssumeRolePolicyDocument", "PolicyDocument", "repositoryPolicy"}
)
# Rules AWS merges per (protocol, ports): compared as a set of single (source, ports) grants.
PERMISSION_KEYS: Final = frozenset({"IpPermissions", "IpPermissionsEgress"})
# Kinds that are per-account/region settings, not objects one creates: never unmanaged.
_SYNTHETIC: Final = frozenset({"aws.account", "aws.s3.account_settings"})
_ABSENT: Final = object()


@dataclass(frozen=True, slots=True)
class AttributeDrift:
    address: str
    resource: str  # the live id (ARN)
    kind: str
    path: str  # attribute path in the live shape: Versioning.Status
    declared: Any
    live: Any
    file: str = ""  # the argument (or block) that sets it, when the code was given
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "resource": self.resource,
            "kind": self.kind,
            "path": self.path,
            "declared": plain(self.declared),
            "live": plain(self.live),
            "file": self.file,
            "line": self.line,
        }


@dataclass(frozen=True, slots=True)
class Unmanaged:
    kind: str
    resource: str
    name: str
    account: str
    region: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "resource": self.resource,
            "name": self.name,
            "account": self.account,
            "region": self.region,
        }


@dataclass(frozen=True, slots=True)
class Missing:
    address: str
    kind: str
    id: str  # the id the state recorded (ARN, group id...), "" when it recorded none
    file: str = ""
    line: int | None = None
    state: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "id": self.id,
            "file": self.file,
            "line": self.line,
            "state": self.state,
        }


@dataclass(slots=True)
class DriftReport:
    drifted: list[AttributeDrift] = field(default_factory=list)
    unmanaged: list[Unmanaged] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # addresses the snapshot did not cover
    matched: int = 0
    states: list[str] = field(default_factory=list)
    snapshot: str = ""

    @property
    def has_drift(self) -> bool:
        return bool(self.drifted or self.unmanaged or self.missing)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "yamori-iac-drift",
            "states": self.states,
            "snapshot": self.snapshot,
            "summary": {
                "matched": self.matched,
                "drifted_attributes": len(self.drifted),
                "drifted_resources": len({d.address for d in self.drifted}),
                "unmanaged": len(self.unmanaged),
                "missing": len(self.missing),
                "unchecked": len(self.unchecked),
            },
            "drifted": [d.to_json() for d in self.drifted],
            "unmanaged": [u.to_json() for u in self.unmanaged],
            "missing": [m.to_json() for m in self.missing],
            "unchecked": self.unchecked,
        }


def plain(value: Any) -> Any:
    if value is UNKNOWN:
        return {"$unknown": True}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


# --- normalisation ----------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _policy(value: Any) -> Any:
    """A policy document as a comparable value: parsed, one-element lists as scalars' lists,
    statements and their value lists sorted (order is not meaningful in IAM policies)."""
    if value in (None, ""):
        return None  # Terraform records "no policy" as ""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if not isinstance(value, dict):
        return value
    statements = value.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    shaped = []
    for stmt in statements:
        if not isinstance(stmt, dict):
            shaped.append(stmt)
            continue
        item: dict[str, Any] = {}
        for key, inner in stmt.items():
            if key in ("Action", "NotAction", "Resource", "NotResource"):
                inner = sorted(inner) if isinstance(inner, list) else [inner]
            elif key in ("Principal", "NotPrincipal") and isinstance(inner, dict):
                inner = {k: sorted(v) if isinstance(v, list) else [v] for k, v in inner.items()}
            elif key == "Condition" and isinstance(inner, dict):
                inner = {
                    op: {k: sorted(map(str, v)) if isinstance(v, list) else [str(v)] for k, v in body.items()}
                    if isinstance(body, dict)
                    else body
                    for op, body in inner.items()
                }
            item[key] = inner
        shaped.append(item)
    return {
        "Version": value.get("Version", "2008-10-17"),
        "Statement": sorted(shaped, key=_canonical),
    }


def _grants(permissions: Any) -> Any:
    """IpPermissions → a sorted list of single grants ``[proto, from, to, type, source]``:
    AWS merges rules with the same protocol and ports into one entry, Terraform may not."""
    if not isinstance(permissions, list):
        return permissions
    grants: set[tuple[str, ...]] = set()
    for entry in permissions:
        if not isinstance(entry, dict):
            return UNKNOWN
        proto = str(entry.get("IpProtocol", ""))
        ports = ("", "") if proto == "-1" else (str(entry.get("FromPort", "")), str(entry.get("ToPort", "")))
        for list_key, value_key in (
            ("IpRanges", "CidrIp"),
            ("Ipv6Ranges", "CidrIpv6"),
            ("UserIdGroupPairs", "GroupId"),
            ("PrefixListIds", "PrefixListId"),
        ):
            for item in entry.get(list_key) or []:
                source = item.get(value_key) if isinstance(item, dict) else None
                if source is UNKNOWN or is_reference(source):
                    return UNKNOWN
                grants.add((proto, *ports, value_key, str(source)))
    return [list(g) for g in sorted(grants)]


def _drop_empty(value: Any) -> Any:
    """Inside list elements an absent key, None, ``[]`` and ``""`` mean the same thing."""
    if isinstance(value, dict):
        return {k: _drop_empty(v) for k, v in value.items() if v not in (None, [], "", {})}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


def normalise(path: str, value: Any) -> Any:
    """The comparable form of ``value`` at attribute ``path``.

    Policy documents: parsed, statements and value lists sorted. Security group rules: sets of
    single grants. Other lists: order ignored (sorted by canonical JSON), empty fields of their
    elements dropped. Dicts: empty fields dropped. An empty list or dict (``{"Rules": []}``, a
    state's ``[]`` for a block never written) reads as None, like the API's "not configured".
    ``Versioning.MFADelete``: never configured (None, ``""``) reads as ``Disabled``. Tags: a
    plain string dict.
    """
    top = path.split(".", 1)[0].split("[", 1)[0]
    if top in POLICY_KEYS or path.rsplit(".", 1)[-1] in POLICY_KEYS:
        return _policy(value)
    if top in PERMISSION_KEYS:
        return _grants(value)
    if path == "Versioning.MFADelete" and value in (None, ""):
        return "Disabled"
    if path == "Tags" and isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, dict):
        return _drop_empty(value) or None
    if isinstance(value, list):
        return sorted((_drop_empty(v) for v in value), key=_canonical) or None
    return value


def _contains_unknown(value: Any) -> bool:
    if value is UNKNOWN or is_reference(value):
        return True
    if isinstance(value, dict):
        return any(_contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_unknown(v) for v in value)
    return False


# --- comparison -------------------------------------------------------------------------------


def _empty_block(item: Declared) -> Resource | None:
    """The resource an empty block of the same type maps to: the defaults the adapter adds."""
    from yamori.sources.iac.mapping_aws import TERRAFORM, Block, build_resources

    if not item.block_type:
        return None
    resources, _ = build_resources(
        [Block(item.block_type, item.resource.id, {}, "", {}, "")], TERRAFORM, "terraform"
    )
    return resources[0] if resources else None


def _differences(path: str, declared: Any, baseline: Any, live: Any) -> Iterator[tuple[str, Any, Any]]:
    """(path, declared, live) for each stated, known attribute whose live value differs."""
    if declared is UNKNOWN or is_reference(declared):
        return
    if isinstance(declared, dict) and isinstance(live, dict) and path.split(".")[-1] not in POLICY_KEYS:
        for key, value in declared.items():
            if key in AWS_ASSIGNED or key not in live:
                continue
            base = baseline.get(key, _ABSENT) if isinstance(baseline, dict) else _ABSENT
            yield from _differences(f"{path}.{key}" if path else key, value, base, live[key])
        return
    if baseline is not _ABSENT and normalise(path, declared) == normalise(path, baseline):
        return  # a default the state does not state
    if _contains_unknown(declared):
        return
    want, have = normalise(path, declared), normalise(path, live)
    if want is UNKNOWN or have is UNKNOWN:
        return
    if want != have:
        yield path, declared, live


def _origin(item: Declared, path: str) -> tuple[str, int | None]:
    """file:line of the argument setting ``path`` (longest known prefix), else of the block."""
    code = item.code
    if code is None:
        return item.link.file, item.link.line
    probe = path
    while probe:
        if probe in code.origins:
            return split_location(code.origins[probe])
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return item.link.file, item.link.line


def _state_tags(values: dict[str, Any]) -> dict[str, str] | None:
    """The tags Terraform applied (``tags_all`` includes provider default tags); None when
    the state does not record tags for this type."""
    for key in ("tags_all", "tags"):
        tags = values.get(key)
        if isinstance(tags, dict):
            return {str(k): str(v) for k, v in tags.items()}
    return None


def _attribute_drift(item: Declared, live: Resource) -> Iterator[AttributeDrift]:
    baseline = _empty_block(item)
    base_attrs: Any = baseline.attributes if baseline is not None else _ABSENT
    attributes = {k: v for k, v in live.attributes.items() if k not in live.errors and "*" not in live.errors}
    for path, declared, value in _differences("", item.resource.attributes, base_attrs, attributes):
        file, line = _origin(item, path)
        yield AttributeDrift(item.resource.id, live.id, live.kind, path, declared, value, file, line)
    tags = _state_tags(item.values)
    if tags is not None and "Tags" not in live.errors and "*" not in live.errors:
        have = {k: v for k, v in live.tags.items() if not k.startswith("aws:")}
        if tags != have:
            file, line = _origin(item, "tags")
            yield AttributeDrift(item.resource.id, live.id, live.kind, "Tags", tags, have, file, line)


# --- coverage, defaults -------------------------------------------------------------------------


def _region_of(item: Declared) -> str | None:
    """The region a state entry lives in: its ``region`` argument, else its ARN's region
    field; None for global kinds or when the state does not say."""
    region = item.values.get("region")
    if isinstance(region, str) and region:
        return region
    for key in ("arn", "id"):
        value = item.values.get(key)
        if isinstance(value, str) and value.startswith("arn:"):
            parts = value.split(":")
            if len(parts) > 3 and parts[3]:
                return parts[3]
    return None


def _service(kind: str) -> str:
    return kind.split(".")[1] if kind.count(".") >= 2 else kind


def _covered(kind: str, region: str | None, snapshot: Snapshot) -> bool:
    """Did the snapshot look for ``kind`` in ``region``? Its service was called, the region was
    scanned (global kinds: any), and no listing of the kind failed there."""
    service = _service(kind)
    if not any(op.split(":", 1)[0] == service for op in snapshot.api_calls):
        return False
    if region and snapshot.regions and region not in snapshot.regions:
        return False
    return not any(e.kind == kind and (not region or e.region in ("", region)) for e in snapshot.errors)


def _aws_default(resource: Resource) -> bool:
    """Objects AWS creates by itself, which no code is expected to declare."""
    attrs = resource.attributes
    if resource.kind in _SYNTHETIC or resource.kind.endswith(".settings"):
        return True
    if resource.kind == "aws.ec2.security_group":
        return attrs.get("GroupName") == "default"
    if resource.kind in ("aws.ec2.vpc", "aws.ec2.network_acl"):
        return attrs.get("IsDefault") is True
    if resource.kind == "aws.ec2.subnet":
        return attrs.get("DefaultForAz") is True
    if resource.kind == "aws.iam.role":
        return str(attrs.get("Path", "")).startswith("/aws-service-role/")
    if resource.kind == "aws.iam.policy":
        return ":iam::aws:policy/" in resource.id
    return False


# --- the report -----------------------------------------------------------------------------


def compute_drift(index: CodeIndex, snapshot: Snapshot) -> DriftReport:
    """Compare the state entries of ``index`` with ``snapshot`` (see the module docstring)."""
    report = DriftReport(states=list(index.states))
    managed = [
        d
        for d in index.declared
        if d.from_state and not d.resource.kind.endswith(".settings") and d.resource.kind not in _SYNTHETIC
    ]
    matched: dict[int, Resource] = {}
    live_matched: set[str] = set()
    for live in snapshot.resources:
        found = index.match(live)
        if found is None or not found.from_state:
            continue
        if id(found) in matched:
            continue  # one state entry, two live objects (ambiguous): the first wins
        matched[id(found)] = live
        live_matched.add(live.id)
    for item in managed:
        live_resource = matched.get(id(item))
        if live_resource is None:
            region = _region_of(item)
            if not _covered(item.resource.kind, region, snapshot):
                report.unchecked.append(item.resource.id)
                continue
            ident = next(
                (
                    str(item.resource.attributes[n])
                    for n in ("Arn", "TrailARN", "SecurityGroupArn", "GroupId", "Name", "InstanceId")
                    if isinstance(item.resource.attributes.get(n), str)
                ),
                str(item.values.get("arn") or item.values.get("id") or ""),
            )
            report.missing.append(
                Missing(
                    item.resource.id,
                    item.resource.kind,
                    ident,
                    item.link.file,
                    item.link.line,
                    item.link.state,
                )
            )
            continue
        report.matched += 1
        report.drifted.extend(_attribute_drift(item, live_resource))
    kinds = {d.resource.kind for d in managed}
    regions = {r for r in (_region_of(d) for d in managed) if r}
    regions |= {r.region for r in matched.values() if r.region}
    for live in snapshot.resources:
        if live.kind not in kinds or live.id in live_matched or _aws_default(live):
            continue
        if regions and live.region and live.region not in regions:
            continue
        report.unmanaged.append(Unmanaged(live.kind, live.id, live.name, live.account, live.region))
    report.drifted.sort(key=lambda d: (d.address, d.path))
    report.unmanaged.sort(key=lambda u: (u.kind, u.resource))
    report.missing.sort(key=lambda m: m.address)
    return report
