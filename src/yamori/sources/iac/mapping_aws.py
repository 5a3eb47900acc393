"""Translation of declared AWS resources into the live collectors' shape (docs/aws-resources.md).

Why one module for both dialects: Terraform (snake_case arguments, split resources such as
``aws_s3_bucket_versioning``) and CloudFormation (PascalCase properties, companion resources
such as ``AWS::S3::BucketPolicy``) must land on the *same* attributes the live API shows, or a
policy would pass on code and fail in the cloud. Keeping both tables side by side makes the
target shape, the AWS defaults and the unknowns visible in one place.

Each adapter hands over :class:`Block` objects (one declared resource with resolved values and
the file:line of every argument). A type's entry in :data:`TERRAFORM` / :data:`CLOUDFORMATION`
is a list of rules:

- :class:`Spec` makes a new resource of a kind: a table of (source path → attribute path), and a
  small function for shapes a table cannot express (security group rules, event selectors). The
  **known AWS defaults** for arguments left out and the attributes AWS decides at create time that
  code cannot know (→ ``UNKNOWN``) belong to the kind (:data:`LIVE_DEFAULTS`,
  :data:`AWS_ASSIGNED`); a Spec's ``defaults``/``unknown`` only add what one dialect does differently.
- :class:`Merge` folds a companion block into the resource it configures, found by a key argument
  (``bucket``, ``security_group_id``...) that names the target or references it, or into a
  per-configuration singleton (``aws.ec2.settings``, ``aws.config.settings``).

Defaults vs unknown is decided per attribute and documented in docs/iac.md.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from yamori.model.resource import UNKNOWN, Resource
from yamori.sources.iac.interface import IacIssue, is_reference, reference

__all__ = ["CLOUDFORMATION", "TERRAFORM", "Block", "Merge", "Spec", "build_resources", "kinds_for"]


class _Absent:
    """A source argument that was not written (distinct from ``None``/``null``)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


@dataclass(slots=True)
class Block:
    """One declared resource as an adapter resolved it.

    ``values`` are resolved (``UNKNOWN`` where the adapter could not tell, reference markers for
    other declared resources); nested blocks are lists of dicts. ``origins`` maps a source path
    (``versioning_configuration[0].status``) to ``file:line``.
    """

    type: str
    address: str
    values: dict[str, Any]
    location: str
    origins: dict[str, str] = field(default_factory=dict)
    file: str = ""


@dataclass(slots=True)
class Draft:
    """A resource being built; ``keys`` are the values by which companions can name it."""

    kind: str
    id: str
    name: str
    location: str
    attributes: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)
    block_type: str = ""

    def put(self, path: str, value: Any, origin: str | None = None) -> None:
        """Set a dotted attribute path (creating dicts on the way) and remember its origin."""
        parts = path.split(".")
        node = self.attributes
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
        if origin:
            self.origins[path] = origin

    def get(self, path: str) -> Any:
        node: Any = self.attributes
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return ABSENT
            node = node[part]
        return node

    def append(self, path: str, item: Any, origin: str | None = None) -> None:
        """Append to the list at ``path`` (replacing UNKNOWN/None with a fresh list)."""
        current = self.get(path)
        if not isinstance(current, list):
            current = []
            self.put(path, current)
        current.append(item)
        if origin:
            self.origins[f"{path}[{len(current) - 1}]"] = origin


class Src:
    """Read access to a block's values by dotted path, with the origin of each path."""

    def __init__(self, block: Block) -> None:
        self.block = block

    def get(self, path: str, default: Any = ABSENT) -> Any:
        """Value at ``path``; a list of nested blocks is entered at its first element;
        ``None`` (Terraform ``null``) counts as not written."""
        node: Any = self.block.values
        for part in path.split("."):
            if isinstance(node, list) and node and isinstance(node[0], dict):
                node = node[0]
            if node is UNKNOWN:
                return UNKNOWN
            if not isinstance(node, dict) or part not in node or node[part] is None:
                return default
            node = node[part]
        return node

    def origin(self, path: str) -> str:
        """file:line of ``path`` (longest known prefix; the block itself as the last resort)."""
        origins = self.block.origins
        probe = path
        while probe:
            for candidate in (probe, _first_index(probe)):
                if candidate in origins:
                    return origins[candidate]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return self.block.location

    def items(self, path: str) -> Iterator[tuple[str, Any]]:
        """(indexed path, element) for each element of the list (or single block) at ``path``."""
        value = self.get(path)
        if value is ABSENT or value is UNKNOWN:
            return
        elements = value if isinstance(value, list) else [value]
        for index, element in enumerate(elements):
            yield f"{path}[{index}]", element


def _first_index(path: str) -> str:
    """``a.b`` → ``a[0].b``: origins of a single nested block are recorded with its index."""
    head, _, rest = path.partition(".")
    return f"{head}[0].{rest}" if rest and not head.endswith("]") else path


# --- value conversions ----------------------------------------------------------------------


def _parse_document(value: Any) -> Any:
    """Policy documents are parsed JSON in the live shape; a string that is not JSON stays."""
    if isinstance(value, str) and not is_reference(value):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _as_list(value: Any) -> list[Any]:
    if value is ABSENT or value is None:
        return []
    if value is UNKNOWN:
        return [UNKNOWN]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _int(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _str(value: Any) -> Any:
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


_PROTOCOLS: Final = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1", "-1": "-1"}
_PROTOCOL_NUMBERS: Final = {"tcp": "6", "udp": "17", "icmp": "1", "icmpv6": "58", "all": "-1", "-1": "-1"}


def _sg_protocol(value: Any) -> Any:
    """Security groups: AWS answers names (``tcp``) for 6/17/1/58 and ``-1`` for all."""
    if value is UNKNOWN or value is ABSENT:
        return UNKNOWN
    text = str(value).lower()
    return _PROTOCOLS.get(text, text)


def _acl_protocol(value: Any) -> Any:
    """Network ACL entries: AWS answers protocol numbers as strings (``"6"``, ``"-1"``)."""
    if value is UNKNOWN or value is ABSENT:
        return UNKNOWN
    text = str(value).lower()
    return _PROTOCOL_NUMBERS.get(text, text)


# --- rules ----------------------------------------------------------------------------------

Field = tuple[str, str] | tuple[str, str, Callable[[Any], Any]]
Builder = Callable[[Src, Draft], None]


@dataclass(frozen=True, slots=True)
class Spec:
    """A declared type that becomes a resource of ``kind``."""

    kind: str
    fields: tuple[Field, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)  # over LIVE_DEFAULTS[kind]
    unknown: tuple[str, ...] = ()  # besides AWS_ASSIGNED[kind]
    name: str | None = None  # source path of the resource's name
    keys: tuple[str, ...] = ()  # source paths whose values companions may use to name it
    build: Builder | None = None
    tags: str | None = None  # source path of the tags


@dataclass(frozen=True, slots=True)
class Merge:
    """A companion type folded into a ``target`` resource (or a singleton of ``singleton`` kind)."""

    apply: Builder
    key: str = ""  # source path naming the target
    target: tuple[str, ...] = ()  # block types of possible targets
    singleton: str = ""  # kind of the per-configuration settings resource
    singleton_defaults: Mapping[str, Any] = field(default_factory=dict)


Rule = Spec | Merge


def copy_fields(src: Src, draft: Draft, fields: tuple[Field, ...]) -> None:
    """Copy each written source path to its attribute path (through the field's conversion)."""
    for entry in fields:
        path, dest = entry[0], entry[1]
        value = src.get(path)
        if value is ABSENT:
            continue
        if len(entry) == 3 and value is not UNKNOWN:
            value = entry[2](value)
        draft.put(dest, value, src.origin(path))


def _set(dest: str, path: str, convert: Callable[[Any], Any] | None = None) -> Builder:
    """A builder that copies one path (used by merges)."""

    def apply(src: Src, draft: Draft) -> None:
        value = src.get(path)
        if value is ABSENT:
            return
        if convert is not None and value is not UNKNOWN:
            value = convert(value)
        draft.put(dest, value, src.origin(path))

    return apply


def _append(dest: str, path: str) -> Builder:
    """A builder that appends one path's value to a list (used by merges)."""

    def apply(src: Src, draft: Draft) -> None:
        draft.append(dest, src.get(path, UNKNOWN), src.block.location)

    return apply


def _fields(*fields: Field) -> Builder:
    def apply(src: Src, draft: Draft) -> None:
        copy_fields(src, draft, fields)

    return apply


def _chain(*builders: Builder) -> Builder:
    def apply(src: Src, draft: Draft) -> None:
        for builder in builders:
            builder(src, draft)

    return apply


# --- shared shapes ---------------------------------------------------------------------------

_PAB_FLAGS: Final = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_SSE_S3_DEFAULT: Final = {
    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]
}
# What GetBucket* answers for a bucket created today with nothing configured (AWS defaults since
# 2023: Block Public Access on, SSE-S3, ACLs disabled; versioning and logging never configured).
_BUCKET_DEFAULTS: Final = {
    "Policy": None,
    "Versioning": {"Status": None, "MFADelete": None},
    "PublicAccessBlockConfiguration": dict.fromkeys(_PAB_FLAGS, True),
    "ServerSideEncryptionConfiguration": _SSE_S3_DEFAULT,
    "Logging": {"LoggingEnabled": None},
    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
}
_CANNED_ACL_GRANTS: Final[dict[str, list[tuple[str, str]]]] = {
    "private": [],
    "public-read": [("http://acs.amazonaws.com/groups/global/AllUsers", "READ")],
    "public-read-write": [
        ("http://acs.amazonaws.com/groups/global/AllUsers", "READ"),
        ("http://acs.amazonaws.com/groups/global/AllUsers", "WRITE"),
    ],
    "authenticated-read": [("http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "READ")],
    "log-delivery-write": [
        ("http://acs.amazonaws.com/groups/s3/LogDelivery", "WRITE"),
        ("http://acs.amazonaws.com/groups/s3/LogDelivery", "READ_ACP"),
    ],
}


def canned_acl(value: Any) -> Any:
    """A canned ACL as the grants ``GetBucketAcl`` lists (owner FULL_CONTROL plus the groups)."""
    if not isinstance(value, str):
        return UNKNOWN
    key = value.lower().replace("publicread", "public-read").replace("logdeliverywrite", "log-delivery-write")
    key = {"publicreadwrite": "public-read-write", "authenticatedread": "authenticated-read"}.get(key, key)
    if key not in _CANNED_ACL_GRANTS:
        return UNKNOWN
    grants: list[dict[str, Any]] = [
        {"Grantee": {"Type": "CanonicalUser", "ID": UNKNOWN}, "Permission": "FULL_CONTROL"}
    ]
    grants += [
        {"Grantee": {"Type": "Group", "URI": uri}, "Permission": perm}
        for uri, perm in _CANNED_ACL_GRANTS[key]
    ]
    return {"Owner": {"ID": UNKNOWN}, "Grants": grants}


def _versioning_status(value: Any) -> Any:
    """Terraform's ``Disabled`` (never enabled) reads back as no status at all."""
    return None if value == "Disabled" else value


def _permission(
    protocol: Any,
    from_port: Any,
    to_port: Any,
    cidrs: Any,
    cidrs6: Any,
    groups: Any,
    prefixes: Any,
    description: Any,
) -> dict[str, Any]:
    """One ``IpPermissions`` entry in DescribeSecurityGroups' shape."""
    proto = _sg_protocol(protocol)
    entry: dict[str, Any] = {"IpProtocol": proto}
    if proto != "-1":
        if from_port is not ABSENT:
            entry["FromPort"] = _int(from_port)
        if to_port is not ABSENT:
            entry["ToPort"] = _int(to_port)
    extra = {"Description": description} if isinstance(description, str) and description else {}
    entry["IpRanges"] = [{"CidrIp": c, **extra} for c in _as_list(cidrs)]
    entry["Ipv6Ranges"] = [{"CidrIpv6": c, **extra} for c in _as_list(cidrs6)]
    entry["UserIdGroupPairs"] = [{"GroupId": g, **extra} for g in _as_list(groups)]
    entry["PrefixListIds"] = [{"PrefixListId": p, **extra} for p in _as_list(prefixes)]
    return entry


_ALLOW_ALL_EGRESS: Final = {
    "IpProtocol": "-1",
    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
    "Ipv6Ranges": [],
    "UserIdGroupPairs": [],
    "PrefixListIds": [],
}
# Every network ACL ends with these entries ("*" in the console), which AWS lists.
_NACL_IMPLICIT: Final = [
    {"RuleNumber": 32767, "RuleAction": "deny", "Egress": egress, "Protocol": "-1", "CidrBlock": "0.0.0.0/0"}
    for egress in (False, True)
]


def _nacl_entry(
    number: Any, action: Any, egress: bool, protocol: Any, cidr: Any, cidr6: Any, low: Any, high: Any
) -> dict[str, Any]:
    """One ``Entries`` item in DescribeNetworkAcls' shape (no PortRange for all protocols)."""
    proto = _acl_protocol(protocol)
    entry: dict[str, Any] = {
        "RuleNumber": _int(number),
        "RuleAction": action.lower() if isinstance(action, str) else action,
        "Egress": egress,
        "Protocol": proto,
    }
    if cidr not in (ABSENT, None, ""):
        entry["CidrBlock"] = cidr
    if cidr6 not in (ABSENT, None, ""):
        entry["Ipv6CidrBlock"] = cidr6
    if proto in ("6", "17") and (low is not ABSENT or high is not ABSENT):
        entry["PortRange"] = {"From": _int(low), "To": _int(high)}
    return entry


def _policy_name(arn: Any) -> Any:
    return arn.rsplit("/", 1)[-1] if isinstance(arn, str) and not is_reference(arn) else UNKNOWN


# --- the live shape of a new resource, per kind ---------------------------------------------

# What the live API shows for a resource of each kind created with nothing more than the code
# says: a fact of the kind, not of the language that declared it, so both tables share it. A
# :class:`Spec`'s own ``defaults`` are applied over these where Terraform and CloudFormation
# genuinely differ (a provider's own default, a name only one of them generates...).
LIVE_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "aws.s3.bucket": _BUCKET_DEFAULTS,
    "aws.ec2.security_group": {"GroupName": UNKNOWN},  # left out: a generated name
    "aws.ec2.network_acl": {"IsDefault": False, "Associations": []},
    "aws.ec2.vpc": {"IsDefault": False, "FlowLogs": []},
    "aws.ec2.instance": {
        # HttpTokens left out depends on the AMI's ImdsSupport and the account's metadata defaults.
        "MetadataOptions": {
            "HttpTokens": UNKNOWN,
            "HttpEndpoint": "enabled",
            "InstanceMetadataTags": "disabled",
        }
    },
    # Encrypted left out follows the region's EBS encryption-by-default setting.
    "aws.ec2.volume": {"Encrypted": UNKNOWN, "Attachments": []},
    "aws.rds.db_instance": {
        "StorageEncrypted": False,
        "PubliclyAccessible": UNKNOWN,  # left out: depends on the subnet group (default VPC: public)
        "AutoMinorVersionUpgrade": True,
        "MultiAZ": False,
        "DeletionProtection": False,
        "IAMDatabaseAuthenticationEnabled": False,
        "EnabledCloudwatchLogsExports": [],
        "DBInstanceIdentifier": UNKNOWN,  # left out: a generated identifier
        "BackupRetentionPeriod": 1,
    },
    "aws.efs.file_system": {
        "Encrypted": False,
        "PerformanceMode": "generalPurpose",
        "ThroughputMode": "bursting",
        "FileSystemPolicy": None,
        "BackupPolicy": None,
    },
    "aws.kms.key": {
        "Description": "",
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "KeyManager": "CUSTOMER",
        "Origin": "AWS_KMS",
        "MultiRegion": False,
        "Aliases": [],
        "Policy": UNKNOWN,
    },
    "aws.cloudtrail.trail": {
        "IsMultiRegionTrail": False,
        "IncludeGlobalServiceEvents": True,
        "IsOrganizationTrail": False,
        "LogFileValidationEnabled": False,
    },
    "aws.iam.user": {
        "Path": "/",
        "UserPolicyList": [],
        "AttachedManagedPolicies": [],
        "GroupList": [],
        "LoginProfile": None,
        "AccessKeys": [],
        # MFA devices are enrolled by people, not code; credentials reports exist only live.
        "MFADevices": UNKNOWN,
    },
    "aws.iam.policy": {
        "Path": "/",
        "AwsManaged": False,
        "AttachmentCount": 0,
        "PolicyUsers": [],
        "PolicyGroups": [],
        "PolicyRoles": [],
        "IsAttachable": True,
        "PermissionsBoundaryUsageCount": 0,
        "PolicyVersion": {"VersionId": "v1", "IsDefaultVersion": True},
        "DefaultVersionId": "v1",
        "PolicyName": UNKNOWN,  # left out: a generated name
    },
    "aws.iam.role": {
        "Path": "/",
        "RolePolicyList": [],
        "AttachedManagedPolicies": [],
        "InstanceProfileList": [],
        "RoleName": UNKNOWN,  # left out: a generated name
    },
    "aws.eks.cluster": {
        "resourcesVpcConfig": {
            "endpointPublicAccess": True,
            "endpointPrivateAccess": False,
            "publicAccessCidrs": ["0.0.0.0/0"],
        }
    },
    "aws.ecr.repository": {
        "imageTagMutability": "MUTABLE",
        "imageScanningConfiguration": {"scanOnPush": False},
        "encryptionConfiguration": {"encryptionType": "AES256"},
        "policy": None,
        "lifecyclePolicy": None,
    },
    "aws.cloudwatch.alarm": {
        "ActionsEnabled": True,
        "AlarmActions": [],
        "OKActions": [],
        "InsufficientDataActions": [],
        "Dimensions": [],
    },
    "aws.sns.topic": {"Attributes": {"DisplayName": ""}, "Subscriptions": []},
}

# The attributes AWS assigns at create time, which code cannot know (``UNKNOWN`` until a state
# file names them, see :data:`STATE_IDENTIFIERS`). A Spec's ``unknown`` adds to these.
AWS_ASSIGNED: Final[dict[str, tuple[str, ...]]] = {
    "aws.s3.bucket": ("CreationDate",),
    "aws.ec2.security_group": ("GroupId", "OwnerId"),
    "aws.ec2.network_acl": ("NetworkAclId",),
    "aws.ec2.vpc": ("VpcId", "OwnerId"),
    "aws.ec2.instance": ("InstanceId", "VpcId", "LaunchTime"),
    "aws.ec2.volume": ("VolumeId", "CreateTime"),
    "aws.efs.file_system": ("FileSystemId", "FileSystemArn"),
    "aws.kms.key": ("KeyId", "Arn", "CreationDate"),
    "aws.cloudtrail.trail": ("TrailARN", "HomeRegion"),
    "aws.iam.user": ("Arn", "UserId", "CreateDate"),
    "aws.iam.policy": ("Arn", "PolicyId", "CreateDate", "UpdateDate"),
    "aws.iam.role": ("Arn", "RoleId", "CreateDate", "RoleLastUsed"),
    "aws.eks.cluster": ("arn", "platformVersion", "status"),
    "aws.ecr.repository": ("repositoryArn", "repositoryUri", "registryId", "createdAt"),
    "aws.logs.log_group": ("arn", "creationTime"),
    "aws.logs.metric_filter": ("creationTime",),
    "aws.cloudwatch.alarm": ("AlarmArn", "StateValue"),
    "aws.sns.topic": ("TopicArn",),
}


# --- Terraform -------------------------------------------------------------------------------


def _tf_bucket(src: Src, draft: Draft) -> None:
    """Inline (provider v3) bucket arguments, which the split resources replaced."""
    for path, enabled in (("versioning.enabled", True), ("versioning.mfa_delete", False)):
        value = src.get(path)
        if value is ABSENT:
            continue
        dest = "Versioning.Status" if enabled else "Versioning.MFADelete"
        if value is not UNKNOWN:
            value = ("Enabled" if value else None) if enabled else ("Enabled" if value else "Disabled")
        draft.put(dest, value, src.origin(path))
    if src.get("server_side_encryption_configuration") is not ABSENT:
        _tf_sse(src, draft, "server_side_encryption_configuration.rule")
    if src.get("logging") is not ABSENT:
        _tf_logging(src, draft, "logging.")
    if src.get("policy") is not ABSENT:
        draft.put("Policy", _parse_document(src.get("policy")), src.origin("policy"))
    if src.get("acl") is not ABSENT:
        draft.put("Acl", canned_acl(src.get("acl")), src.origin("acl"))
    if src.get("bucket") is ABSENT:
        draft.put("Name", UNKNOWN)


def _tf_sse(src: Src, draft: Draft, path: str = "rule") -> None:
    rules = []
    for at, rule in src.items(path):
        default = rule.get("apply_server_side_encryption_by_default") if isinstance(rule, dict) else None
        default = default[0] if isinstance(default, list) and default else default
        applied: dict[str, Any] = {}
        if isinstance(default, dict):
            applied["SSEAlgorithm"] = default.get("sse_algorithm", UNKNOWN)
            if default.get("kms_master_key_id") is not None:
                applied["KMSMasterKeyID"] = default["kms_master_key_id"]
        item: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": applied}
        key_enabled = rule.get("bucket_key_enabled") if isinstance(rule, dict) else None
        item["BucketKeyEnabled"] = _bool(key_enabled) if key_enabled is not None else False
        rules.append(item)
        del at
    draft.put("ServerSideEncryptionConfiguration", {"Rules": rules}, src.origin(path))


def _tf_logging(src: Src, draft: Draft, prefix: str = "") -> None:
    target = src.get(prefix + "target_bucket")
    enabled: dict[str, Any] = {"TargetBucket": UNKNOWN if target is ABSENT else target}
    enabled["TargetPrefix"] = src.get(prefix + "target_prefix", "")
    draft.put("Logging", {"LoggingEnabled": enabled}, src.origin(prefix + "target_bucket"))


def _tf_versioning(src: Src, draft: Draft) -> None:
    base = "versioning_configuration"
    status = src.get(f"{base}.status")
    mfa = src.get(f"{base}.mfa_delete")
    draft.put(
        "Versioning.Status",
        UNKNOWN if status is ABSENT else (status if status is UNKNOWN else _versioning_status(status)),
        src.origin(f"{base}.status"),
    )
    if mfa is not ABSENT:
        draft.put("Versioning.MFADelete", mfa, src.origin(f"{base}.mfa_delete"))


def _tf_pab(src: Src, draft: Draft) -> None:
    """All four flags default to false in ``aws_s3_(account_)public_access_block``."""
    for flag, arg in zip(
        _PAB_FLAGS,
        ("block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets"),
        strict=True,
    ):
        draft.put(f"PublicAccessBlockConfiguration.{flag}", _bool(src.get(arg, False)), src.origin(arg))


def _tf_ownership(src: Src, draft: Draft) -> None:
    draft.put(
        "OwnershipControls",
        {"Rules": [{"ObjectOwnership": src.get("rule.object_ownership", UNKNOWN)}]},
        src.origin("rule.object_ownership"),
    )


def _tf_acl(src: Src, draft: Draft) -> None:
    if src.get("acl") is not ABSENT:
        draft.put("Acl", canned_acl(src.get("acl")), src.origin("acl"))
    elif src.get("access_control_policy") is not ABSENT:
        grants = []
        for _at, grant in src.items("access_control_policy.grant"):
            grantee = grant.get("grantee", [{}]) if isinstance(grant, dict) else [{}]
            grantee = grantee[0] if isinstance(grantee, list) and grantee else grantee
            shaped = (
                {"Type": grantee.get("type", UNKNOWN)} if isinstance(grantee, dict) else {"Type": UNKNOWN}
            )
            if isinstance(grantee, dict):
                shaped.update({k2: grantee[k1] for k1, k2 in (("id", "ID"), ("uri", "URI")) if k1 in grantee})
            grants.append({"Grantee": shaped, "Permission": grant.get("permission", UNKNOWN)})
        draft.put("Acl", {"Owner": {"ID": UNKNOWN}, "Grants": grants}, src.origin("access_control_policy"))


def _tf_sg_rules(src: Src, draft: Draft) -> None:
    """``ingress``/``egress`` blocks; Terraform removes AWS's default allow-all egress rule."""
    for block, dest in (("ingress", "IpPermissions"), ("egress", "IpPermissionsEgress")):
        draft.put(dest, [], src.origin(block) if src.get(block) is not ABSENT else None)
        for at, rule in src.items(block):
            if not isinstance(rule, dict):
                draft.append(dest, UNKNOWN, src.origin(at))
                continue
            groups = _as_list(rule.get("security_groups"))
            if rule.get("self") is True:
                groups.append(reference(draft.id))
            draft.append(
                dest,
                _permission(
                    rule.get("protocol", UNKNOWN),
                    rule.get("from_port", ABSENT),
                    rule.get("to_port", ABSENT),
                    rule.get("cidr_blocks"),
                    rule.get("ipv6_cidr_blocks"),
                    groups,
                    rule.get("prefix_list_ids"),
                    rule.get("description"),
                ),
                src.origin(at),
            )


def _tf_sg_rule(src: Src, draft: Draft) -> None:
    dest = "IpPermissionsEgress" if src.get("type") == "egress" else "IpPermissions"
    groups = _as_list(src.get("source_security_group_id"))
    if src.get("self") is True:
        groups.append(reference(draft.id))
    draft.append(
        dest,
        _permission(
            src.get("protocol", UNKNOWN),
            src.get("from_port"),
            src.get("to_port"),
            src.get("cidr_blocks"),
            src.get("ipv6_cidr_blocks"),
            groups,
            src.get("prefix_list_ids"),
            src.get("description"),
        ),
        src.block.location,
    )


def _tf_vpc_sg_rule(egress: bool) -> Builder:
    def apply(src: Src, draft: Draft) -> None:
        draft.append(
            "IpPermissionsEgress" if egress else "IpPermissions",
            _permission(
                src.get("ip_protocol", UNKNOWN),
                src.get("from_port"),
                src.get("to_port"),
                src.get("cidr_ipv4"),
                src.get("cidr_ipv6"),
                src.get("referenced_security_group_id"),
                src.get("prefix_list_id"),
                src.get("description"),
            ),
            src.block.location,
        )

    return apply


def _tf_nacl(src: Src, draft: Draft) -> None:
    draft.put("Entries", [])
    for block, egress in (("ingress", False), ("egress", True)):
        for at, rule in src.items(block):
            if not isinstance(rule, dict):
                continue
            draft.append(
                "Entries",
                _nacl_entry(
                    rule.get("rule_no", UNKNOWN),
                    rule.get("action", UNKNOWN),
                    egress,
                    rule.get("protocol", UNKNOWN),
                    rule.get("cidr_block", ABSENT),
                    rule.get("ipv6_cidr_block", ABSENT),
                    rule.get("from_port", ABSENT),
                    rule.get("to_port", ABSENT),
                ),
                src.origin(at),
            )
    for entry in _NACL_IMPLICIT:
        draft.append("Entries", dict(entry))


def _nacl_rule(
    number: str, action: str, egress_arg: str, protocol: str, cidr: str, cidr6: str, low: str, high: str
) -> Builder:
    """A standalone ACL entry (``aws_network_acl_rule``, ``AWS::EC2::NetworkAclEntry``), by argument names."""

    def apply(src: Src, draft: Draft) -> None:
        egress = _bool(src.get(egress_arg, False))
        draft.append(
            "Entries",
            _nacl_entry(
                src.get(number, UNKNOWN),
                src.get(action, UNKNOWN),
                egress if isinstance(egress, bool) else False,
                src.get(protocol, UNKNOWN),
                src.get(cidr),
                src.get(cidr6),
                src.get(low),
                src.get(high),
            ),
            src.block.location,
        )

    return apply


def _flow_log(traffic_arg: str, type_arg: str, optional: tuple[tuple[str, str], ...]) -> Builder:
    """A declared flow log is ACTIVE once applied; its id is AWS's to choose.

    ``optional`` pairs (source argument, key) are copied when written."""

    def apply(src: Src, draft: Draft) -> None:
        entry: dict[str, Any] = {
            "FlowLogId": UNKNOWN,
            "FlowLogStatus": "ACTIVE",
            "ResourceId": draft.attributes.get("VpcId", UNKNOWN),
            "TrafficType": src.get(traffic_arg, UNKNOWN),
            "LogDestinationType": src.get(type_arg, "cloud-watch-logs"),
        }
        for arg, key in optional:
            if src.get(arg) is not ABSENT:
                entry[key] = src.get(arg)
        draft.append("FlowLogs", entry, src.block.location)

    return apply


def _tf_instance(src: Src, draft: Draft) -> None:
    profile = src.get("iam_instance_profile")
    draft.put(
        "IamInstanceProfile",
        None if profile is ABSENT else {"Arn": profile, "Id": UNKNOWN},
        src.origin("iam_instance_profile") if profile is not ABSENT else None,
    )
    public = _bool(src.get("associate_public_ip_address"))
    draft.put(
        "PublicIpAddress", None if public is False else UNKNOWN, src.origin("associate_public_ip_address")
    )
    _instance_groups(src, draft, "vpc_security_group_ids", "security_groups")


def _instance_groups(src: Src, draft: Draft, *args: str) -> None:
    """``SecurityGroups`` of an instance from its id and name arguments (names unknown)."""
    groups = [g for arg in args for g in _as_list(src.get(arg))]
    draft.put("SecurityGroups", [{"GroupId": g, "GroupName": UNKNOWN} for g in groups])


def _kms(enabled_arg: str, rotation_arg: str) -> Builder:
    """Key state and rotation (both default: enabled, not rotated), by argument names."""

    def apply(src: Src, draft: Draft) -> None:
        enabled = _bool(src.get(enabled_arg, True))
        draft.put("Enabled", enabled, src.origin(enabled_arg))
        draft.put("KeyState", UNKNOWN if enabled is UNKNOWN else ("Enabled" if enabled else "Disabled"))
        _kms_rotation(draft, src.get(rotation_arg, False), src.origin(rotation_arg))

    return apply


def _kms_rotation(draft: Draft, rotation: Any, origin: str) -> None:
    """Rotation applies to symmetric encryption keys only (the collector's None otherwise)."""
    spec, usage = draft.attributes.get("KeySpec"), draft.attributes.get("KeyUsage")
    if spec is UNKNOWN or usage is UNKNOWN:
        draft.put("KeyRotationEnabled", UNKNOWN, origin)
    elif (
        spec != "SYMMETRIC_DEFAULT"
        or usage != "ENCRYPT_DECRYPT"
        or draft.attributes.get("Origin") != "AWS_KMS"
    ):
        draft.put("KeyRotationEnabled", None, origin)
    else:
        draft.put("KeyRotationEnabled", _bool(rotation), origin)
        if _bool(rotation) is True and "RotationPeriodInDays" not in draft.attributes:
            draft.put("RotationPeriodInDays", 365)


# Terraform's names for the (CloudFormation = API) names of an event selector's parts.
_TF_SELECTOR_ARGS: Final = {
    "ReadWriteType": "read_write_type",
    "IncludeManagementEvents": "include_management_events",
    "DataResources": "data_resource",
    "Type": "type",
    "Values": "values",
    "ExcludeManagementEventSources": "exclude_management_event_sources",
}


def _event_selector(sel: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """One ``EventSelectors`` entry; ``names`` maps the API's part names to the source's."""

    def arg(key: str) -> str:
        return names.get(key, key)

    return {
        "ReadWriteType": sel.get(arg("ReadWriteType"), "All"),
        "IncludeManagementEvents": _bool(sel.get(arg("IncludeManagementEvents"), True)),
        "DataResources": [
            {"Type": d.get(arg("Type"), UNKNOWN), "Values": _as_list(d.get(arg("Values")))}
            for d in _as_list(sel.get(arg("DataResources")))
            if isinstance(d, dict)
        ],
        "ExcludeManagementEventSources": _as_list(sel.get(arg("ExcludeManagementEventSources"))),
    }


def _tf_trail(src: Src, draft: Draft) -> None:
    """Selectors: a trail with none records all management events (AWS's default selector)."""
    draft.put("Status", {"IsLogging": draft.attributes.get("IsLogging", True)})
    selectors = [
        _event_selector(sel, _TF_SELECTOR_ARGS)
        for _at, sel in src.items("event_selector")
        if isinstance(sel, dict)
    ]
    advanced = []
    for _at, sel in src.items("advanced_event_selector"):
        if not isinstance(sel, dict):
            continue
        fields = []
        for fs in _as_list(sel.get("field_selector")):
            if not isinstance(fs, dict):
                continue
            shaped: dict[str, Any] = {"Field": fs.get("field", UNKNOWN)}
            for arg, key in (
                ("equals", "Equals"),
                ("not_equals", "NotEquals"),
                ("starts_with", "StartsWith"),
                ("not_starts_with", "NotStartsWith"),
                ("ends_with", "EndsWith"),
                ("not_ends_with", "NotEndsWith"),
            ):
                if fs.get(arg) is not None:
                    shaped[key] = _as_list(fs[arg])
            fields.append(shaped)
        advanced.append({"Name": sel.get("name", ""), "FieldSelectors": fields})
    _trail_selectors(
        draft, selectors, advanced, src.origin("event_selector"), src.origin("advanced_event_selector")
    )


def _trail_selectors(draft: Draft, basic: list[Any], advanced: list[Any], at_basic: str, at_adv: str) -> None:
    if advanced:
        draft.put("EventSelectors", [], at_adv)
        draft.put("AdvancedEventSelectors", advanced, at_adv)
    else:
        default = [
            {
                "ReadWriteType": "All",
                "IncludeManagementEvents": True,
                "DataResources": [],
                "ExcludeManagementEventSources": [],
            }
        ]
        draft.put("EventSelectors", basic or default, at_basic)
        draft.put("AdvancedEventSelectors", [])
    draft.put("HasCustomEventSelectors", bool(basic))
    draft.put("HasInsightSelectors", False)


def _inline_policies(block: str, name_arg: str, doc_arg: str, dest: str) -> Builder:
    def apply(src: Src, draft: Draft) -> None:
        for at, pol in src.items(block):
            if isinstance(pol, dict):
                draft.append(
                    dest,
                    {
                        "PolicyName": pol.get(name_arg, UNKNOWN),
                        "PolicyDocument": _parse_document(pol.get(doc_arg, UNKNOWN)),
                    },
                    src.origin(at),
                )

    return apply


def _append_policy(dest: str, name_arg: str = "name", doc_arg: str = "policy") -> Builder:
    def apply(src: Src, draft: Draft) -> None:
        draft.append(
            dest,
            {
                "PolicyName": src.get(name_arg, UNKNOWN),
                "PolicyDocument": _parse_document(src.get(doc_arg, UNKNOWN)),
            },
            src.block.location,
        )

    return apply


def _attach_managed(arn_arg: str) -> Builder:
    """``AttachedManagedPolicies`` of a user/role/group from an attachment companion."""

    def apply(src: Src, draft: Draft) -> None:
        arn = src.get(arn_arg, UNKNOWN)
        draft.append(
            "AttachedManagedPolicies", {"PolicyName": _policy_name(arn), "PolicyArn": arn}, src.block.location
        )

    return apply


def _policy_entity(list_name: str, name_key: str, arg: str) -> Builder:
    """The policy side of an attachment: counts it and names the principal."""

    def apply(src: Src, draft: Draft) -> None:
        for principal in _as_list(src.get(arg)):
            draft.append(list_name, _principal(name_key, principal), src.block.location)
        _count_attachments(draft)

    return apply


def _principal(name_key: str, name: Any) -> dict[str, Any]:
    """A ``PolicyUsers``/``PolicyRoles``/``PolicyGroups`` entry (its id is AWS's)."""
    return {name_key: name, name_key.replace("Name", "Id"): UNKNOWN}


def _count_attachments(draft: Draft) -> None:
    draft.put(
        "AttachmentCount",
        sum(len(draft.attributes.get(k) or []) for k in ("PolicyUsers", "PolicyGroups", "PolicyRoles")),
    )


def _managed_arns(arg: str) -> Builder:
    def apply(src: Src, draft: Draft) -> None:
        for at, arn in src.items(arg):
            draft.append(
                "AttachedManagedPolicies", {"PolicyName": _policy_name(arn), "PolicyArn": arn}, src.origin(at)
            )

    return apply


def _login_profile(draft: Draft, reset_required: Any, origin: str) -> None:
    draft.put(
        "LoginProfile",
        {"UserName": draft.name, "CreateDate": UNKNOWN, "PasswordResetRequired": _bool(reset_required)},
        origin,
    )


def _tf_login_profile(src: Src, draft: Draft) -> None:
    _login_profile(draft, src.get("password_reset_required", True), src.block.location)


def _access_key(status_arg: str) -> Builder:
    """A new access key: Active unless told otherwise, never used, its id AWS's."""

    def apply(src: Src, draft: Draft) -> None:
        draft.append(
            "AccessKeys",
            {
                "UserName": draft.name,
                "AccessKeyId": UNKNOWN,
                "Status": src.get(status_arg, "Active"),
                "CreateDate": UNKNOWN,
                "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"},
            },
            src.block.location,
        )

    return apply


def _append_recorder(
    src: Src, draft: Draft, name: Any, role_arg: str, group_args: tuple[str, str, str]
) -> None:
    """A ``ConfigurationRecorders`` entry; ``group_args``: all supported, global types, types."""
    all_supported, include_global, types = group_args
    group = {
        "allSupported": _bool(src.get(all_supported, True)),
        "includeGlobalResourceTypes": _bool(src.get(include_global, False)),
        "resourceTypes": _as_list(src.get(types)),
    }
    draft.append(
        "ConfigurationRecorders",
        {"name": name, "roleARN": src.get(role_arg, UNKNOWN), "recordingGroup": group},
        src.block.location,
    )


def _append_channel(
    src: Src, draft: Draft, name: Any, bucket_arg: str, optional: tuple[tuple[str, str], ...]
) -> None:
    """A ``DeliveryChannels`` entry; ``optional`` pairs (source argument, key) are copied when written."""
    channel = {"name": name, "s3BucketName": src.get(bucket_arg, UNKNOWN)}
    for arg, key in optional:
        if src.get(arg) is not ABSENT:
            channel[key] = src.get(arg)
    draft.append("DeliveryChannels", channel, src.block.location)


def _tf_recorder(src: Src, draft: Draft) -> None:
    _append_recorder(
        src,
        draft,
        src.get("name", "default"),
        "role_arn",
        (
            "recording_group.all_supported",
            "recording_group.include_global_resource_types",
            "recording_group.resource_types",
        ),
    )


def _tf_recorder_status(src: Src, draft: Draft) -> None:
    draft.append(
        "ConfigurationRecordersStatus",
        {"name": src.get("name", UNKNOWN), "recording": _bool(src.get("is_enabled", UNKNOWN))},
        src.origin("is_enabled"),
    )


def _tf_delivery_channel(src: Src, draft: Draft) -> None:
    _append_channel(
        src,
        draft,
        src.get("name", "default"),
        "s3_bucket_name",
        (("s3_key_prefix", "s3KeyPrefix"), ("sns_topic_arn", "snsTopicARN")),
    )


def _cluster_logging(enabled: list[Any]) -> dict[str, Any]:
    """DescribeCluster's ``logging``: the enabled types, then the rest as disabled (when known)."""
    all_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    logging = [{"types": enabled, "enabled": True}] if enabled else []
    rest = [t for t in all_types if t not in enabled]
    if rest and UNKNOWN not in enabled:
        logging.append({"types": rest, "enabled": False})
    return {"clusterLogging": logging}


def _tf_eks(src: Src, draft: Draft) -> None:
    enabled = _as_list(src.get("enabled_cluster_log_types"))
    draft.put("logging", _cluster_logging(enabled), src.origin("enabled_cluster_log_types"))
    configs = []
    for _at, cfg in src.items("encryption_config"):
        if isinstance(cfg, dict):
            provider = cfg.get("provider")
            provider = provider[0] if isinstance(provider, list) and provider else provider
            key = provider.get("key_arn", UNKNOWN) if isinstance(provider, dict) else UNKNOWN
            configs.append({"resources": _as_list(cfg.get("resources")), "provider": {"keyArn": key}})
    draft.put("encryptionConfig", configs or None, src.origin("encryption_config"))


def _tf_metric_filter(src: Src, draft: Draft) -> None:
    transforms = []
    for _at, t in src.items("metric_transformation"):
        if isinstance(t, dict):
            shaped = {
                "metricName": t.get("name", UNKNOWN),
                "metricNamespace": t.get("namespace", UNKNOWN),
                "metricValue": _str(t.get("value", UNKNOWN)),
            }
            if t.get("default_value") is not None:
                shaped["defaultValue"] = t["default_value"]
            transforms.append(shaped)
    draft.put("metricTransformations", transforms, src.origin("metric_transformation"))


def _dimensions(arg: str) -> Builder:
    def apply(src: Src, draft: Draft) -> None:
        dims = src.get(arg, {})
        if isinstance(dims, dict):
            draft.put("Dimensions", [{"Name": k, "Value": v} for k, v in dims.items()], src.origin(arg))
        elif isinstance(dims, list):
            draft.put("Dimensions", dims, src.origin(arg))

    return apply


_CONFIRMS_ITSELF: Final = frozenset({"sqs", "lambda", "firehose", "application"})


def _subscription(protocol_arg: str, endpoint_arg: str) -> Builder:
    """Email/HTTP subscriptions wait for a human to confirm them: their state is unknown."""

    def apply(src: Src, draft: Draft) -> None:
        draft.append(
            "Subscriptions",
            _subscription_entry(src.get(protocol_arg, UNKNOWN), src.get(endpoint_arg, UNKNOWN), src),
            src.block.location,
        )

    return apply


def _subscription_entry(protocol: Any, endpoint: Any, src: Src) -> dict[str, Any]:
    arn = reference(src.block.address) if protocol in _CONFIRMS_ITSELF else UNKNOWN
    return {"Protocol": protocol, "Endpoint": endpoint, "SubscriptionArn": arn, "TopicArn": UNKNOWN}


def _tags_name(draft: Draft) -> None:
    if draft.tags.get("Name"):
        draft.name = draft.tags["Name"]


_EC2_SETTINGS: Final = {
    "EbsEncryptionByDefault": UNKNOWN,
    "EbsDefaultKmsKeyId": UNKNOWN,
    "SerialConsoleAccessEnabled": UNKNOWN,
    "ImageBlockPublicAccessState": UNKNOWN,
    "SnapshotBlockPublicAccessState": UNKNOWN,
    "InstanceMetadataDefaults": UNKNOWN,
}
_CONFIG_SETTINGS: Final[dict[str, Any]] = {
    "ConfigurationRecorders": [],
    "ConfigurationRecordersStatus": [],
    "DeliveryChannels": [],
}
_S3_TARGET: Final = ("aws_s3_bucket",)
_SG_TARGET: Final = ("aws_security_group", "aws_default_security_group")


def _metadata_defaults(src: Src, draft: Draft) -> None:
    draft.put(
        "InstanceMetadataDefaults",
        {
            key: src.get(arg, UNKNOWN)
            for arg, key in (
                ("http_tokens", "HttpTokens"),
                ("http_put_response_hop_limit", "HttpPutResponseHopLimit"),
                ("http_endpoint", "HttpEndpoint"),
                ("instance_metadata_tags", "InstanceMetadataTags"),
            )
        },
        src.block.location,
    )


TERRAFORM: Final[dict[str, list[Rule]]] = {
    "aws_s3_bucket": [
        Spec(
            "aws.s3.bucket",
            fields=(("bucket", "Name"),),
            name="bucket",
            keys=("bucket",),
            build=_tf_bucket,
            tags="tags",
        )
    ],
    "aws_s3_bucket_versioning": [Merge(_tf_versioning, "bucket", _S3_TARGET)],
    "aws_s3_bucket_public_access_block": [Merge(_tf_pab, "bucket", _S3_TARGET)],
    "aws_s3_bucket_server_side_encryption_configuration": [Merge(_tf_sse, "bucket", _S3_TARGET)],
    "aws_s3_bucket_logging": [Merge(_tf_logging, "bucket", _S3_TARGET)],
    "aws_s3_bucket_policy": [Merge(_set("Policy", "policy", _parse_document), "bucket", _S3_TARGET)],
    "aws_s3_bucket_acl": [Merge(_tf_acl, "bucket", _S3_TARGET)],
    "aws_s3_bucket_ownership_controls": [Merge(_tf_ownership, "bucket", _S3_TARGET)],
    "aws_s3_account_public_access_block": [Spec("aws.s3.account_settings", build=_tf_pab)],
    "aws_security_group": [
        Spec(
            "aws.ec2.security_group",
            fields=(("name", "GroupName"), ("description", "Description"), ("vpc_id", "VpcId")),
            defaults={"Description": "Managed by Terraform"},  # the provider's default description
            name="name",
            keys=("name",),
            build=_tf_sg_rules,
            tags="tags",
        )
    ],
    "aws_default_security_group": [
        Spec(
            "aws.ec2.security_group",
            fields=(("vpc_id", "VpcId"),),
            defaults={"GroupName": "default", "Description": "default VPC security group"},
            build=_tf_sg_rules,
            tags="tags",
        )
    ],
    "aws_security_group_rule": [Merge(_tf_sg_rule, "security_group_id", _SG_TARGET)],
    "aws_vpc_security_group_ingress_rule": [Merge(_tf_vpc_sg_rule(False), "security_group_id", _SG_TARGET)],
    "aws_vpc_security_group_egress_rule": [Merge(_tf_vpc_sg_rule(True), "security_group_id", _SG_TARGET)],
    "aws_network_acl": [
        Spec(
            "aws.ec2.network_acl",
            fields=(("vpc_id", "VpcId"),),
            build=_tf_nacl,
            tags="tags",
        )
    ],
    "aws_default_network_acl": [
        Spec(
            "aws.ec2.network_acl",
            defaults={"IsDefault": True},
            unknown=("VpcId",),  # the default VPC's, which the configuration does not name
            build=_tf_nacl,
            tags="tags",
        )
    ],
    "aws_network_acl_rule": [
        Merge(
            _nacl_rule(
                "rule_number",
                "rule_action",
                "egress",
                "protocol",
                "cidr_block",
                "ipv6_cidr_block",
                "from_port",
                "to_port",
            ),
            "network_acl_id",
            ("aws_network_acl", "aws_default_network_acl"),
        )
    ],
    "aws_vpc": [
        Spec(
            "aws.ec2.vpc",
            fields=(("cidr_block", "CidrBlock"),),
            tags="tags",
        )
    ],
    "aws_default_vpc": [
        Spec(
            "aws.ec2.vpc",
            defaults={"IsDefault": True, "CidrBlock": "172.31.0.0/16"},
            tags="tags",
        )
    ],
    "aws_flow_log": [
        Merge(
            _flow_log(
                "traffic_type",
                "log_destination_type",
                (
                    ("log_destination", "LogDestination"),
                    ("log_group_name", "LogGroupName"),
                    ("iam_role_arn", "DeliverLogsPermissionArn"),
                ),
            ),
            "vpc_id",
            ("aws_vpc", "aws_default_vpc"),
        )
    ],
    "aws_instance": [
        Spec(
            "aws.ec2.instance",
            fields=(
                ("ami", "ImageId"),
                ("instance_type", "InstanceType"),
                ("subnet_id", "SubnetId"),
                ("metadata_options.http_tokens", "MetadataOptions.HttpTokens"),
                ("metadata_options.http_endpoint", "MetadataOptions.HttpEndpoint"),
                (
                    "metadata_options.http_put_response_hop_limit",
                    "MetadataOptions.HttpPutResponseHopLimit",
                    _int,
                ),
                ("metadata_options.instance_metadata_tags", "MetadataOptions.InstanceMetadataTags"),
            ),
            build=_tf_instance,
            tags="tags",
        )
    ],
    "aws_ebs_volume": [
        Spec(
            "aws.ec2.volume",
            fields=(
                ("encrypted", "Encrypted", _bool),
                ("kms_key_id", "KmsKeyId"),
                ("size", "Size", _int),
                ("type", "VolumeType"),
                ("availability_zone", "AvailabilityZone"),
            ),
            tags="tags",
        )
    ],
    "aws_ebs_encryption_by_default": [
        Merge(
            _set("EbsEncryptionByDefault", "enabled", _bool),
            singleton="aws.ec2.settings",
            singleton_defaults=_EC2_SETTINGS,
        ),
    ],
    "aws_ebs_default_kms_key": [
        Merge(
            _set("EbsDefaultKmsKeyId", "key_arn"),
            singleton="aws.ec2.settings",
            singleton_defaults=_EC2_SETTINGS,
        )
    ],
    "aws_ec2_serial_console_access": [
        Merge(
            _set("SerialConsoleAccessEnabled", "enabled", _bool),
            singleton="aws.ec2.settings",
            singleton_defaults=_EC2_SETTINGS,
        )
    ],
    "aws_ec2_image_block_public_access": [
        Merge(
            _set("ImageBlockPublicAccessState", "state"),
            singleton="aws.ec2.settings",
            singleton_defaults=_EC2_SETTINGS,
        )
    ],
    "aws_ebs_snapshot_block_public_access": [
        Merge(
            _set("SnapshotBlockPublicAccessState", "state"),
            singleton="aws.ec2.settings",
            singleton_defaults=_EC2_SETTINGS,
        )
    ],
    "aws_ec2_instance_metadata_defaults": [
        Merge(_metadata_defaults, singleton="aws.ec2.settings", singleton_defaults=_EC2_SETTINGS)
    ],
    "aws_db_instance": [
        Spec(
            "aws.rds.db_instance",
            fields=(
                ("identifier", "DBInstanceIdentifier"),
                ("engine", "Engine"),
                ("engine_version", "EngineVersion"),
                ("instance_class", "DBInstanceClass"),
                ("storage_encrypted", "StorageEncrypted", _bool),
                ("kms_key_id", "KmsKeyId"),
                ("publicly_accessible", "PubliclyAccessible", _bool),
                ("auto_minor_version_upgrade", "AutoMinorVersionUpgrade", _bool),
                ("multi_az", "MultiAZ", _bool),
                ("deletion_protection", "DeletionProtection", _bool),
                ("backup_retention_period", "BackupRetentionPeriod", _int),
                ("iam_database_authentication_enabled", "IAMDatabaseAuthenticationEnabled", _bool),
                ("db_subnet_group_name", "DBSubnetGroup.DBSubnetGroupName"),
                ("enabled_cloudwatch_logs_exports", "EnabledCloudwatchLogsExports"),
            ),
            # Terraform differs from the API here: the provider's publicly_accessible defaults to
            # false, and backup_retention_period left out is read as unknown (a computed argument).
            defaults={"PubliclyAccessible": False, "BackupRetentionPeriod": UNKNOWN},
            name="identifier",
            build=lambda s, d: _rds_copy_source(s, d, ("snapshot_identifier", "replicate_source_db")),
            tags="tags",
        )
    ],
    "aws_efs_file_system": [
        Spec(
            "aws.efs.file_system",
            fields=(
                ("encrypted", "Encrypted", _bool),
                ("kms_key_id", "KmsKeyId"),
                ("performance_mode", "PerformanceMode"),
                ("throughput_mode", "ThroughputMode"),
                ("creation_token", "CreationToken"),
            ),
            tags="tags",
        )
    ],
    "aws_efs_file_system_policy": [
        Merge(_set("FileSystemPolicy", "policy", _parse_document), "file_system_id", ("aws_efs_file_system",))
    ],
    "aws_efs_backup_policy": [
        Merge(_set("BackupPolicy.Status", "backup_policy.status"), "file_system_id", ("aws_efs_file_system",))
    ],
    "aws_kms_key": [
        Spec(
            "aws.kms.key",
            fields=(
                ("description", "Description"),
                ("key_usage", "KeyUsage"),
                ("customer_master_key_spec", "KeySpec"),
                ("multi_region", "MultiRegion", _bool),
                ("policy", "Policy", _parse_document),
                ("rotation_period_in_days", "RotationPeriodInDays", _int),
            ),
            build=_kms("is_enabled", "enable_key_rotation"),
            tags="tags",
        )
    ],
    "aws_kms_alias": [Merge(_append("Aliases", "name"), "target_key_id", ("aws_kms_key",))],
    "aws_cloudtrail": [
        Spec(
            "aws.cloudtrail.trail",
            fields=(
                ("name", "Name"),
                ("s3_bucket_name", "S3BucketName"),
                ("s3_key_prefix", "S3KeyPrefix"),
                ("is_multi_region_trail", "IsMultiRegionTrail", _bool),
                ("include_global_service_events", "IncludeGlobalServiceEvents", _bool),
                ("is_organization_trail", "IsOrganizationTrail", _bool),
                ("enable_log_file_validation", "LogFileValidationEnabled", _bool),
                ("kms_key_id", "KmsKeyId"),
                ("cloud_watch_logs_group_arn", "CloudWatchLogsLogGroupArn"),
                ("cloud_watch_logs_role_arn", "CloudWatchLogsRoleArn"),
                ("enable_logging", "IsLogging", _bool),
            ),
            defaults={"IsLogging": True},  # enable_logging defaults to true (the provider starts it)
            name="name",
            keys=("name",),
            build=_tf_trail,
            tags="tags",
        )
    ],
    "aws_iam_user": [
        Spec(
            "aws.iam.user",
            fields=(
                ("name", "UserName"),
                ("path", "Path"),
                ("permissions_boundary", "PermissionsBoundary.PermissionsBoundaryArn"),
            ),
            name="name",
            keys=("name",),
            tags="tags",
        )
    ],
    "aws_iam_user_policy": [Merge(_append_policy("UserPolicyList"), "user", ("aws_iam_user",))],
    "aws_iam_user_login_profile": [Merge(_tf_login_profile, "user", ("aws_iam_user",))],
    "aws_iam_access_key": [Merge(_access_key("status"), "user", ("aws_iam_user",))],
    "aws_iam_user_policy_attachment": [
        Merge(_attach_managed("policy_arn"), "user", ("aws_iam_user",)),
        Merge(_policy_entity("PolicyUsers", "UserName", "user"), "policy_arn", ("aws_iam_policy",)),
    ],
    "aws_iam_role_policy_attachment": [
        Merge(_attach_managed("policy_arn"), "role", ("aws_iam_role",)),
        Merge(_policy_entity("PolicyRoles", "RoleName", "role"), "policy_arn", ("aws_iam_policy",)),
    ],
    "aws_iam_policy_attachment": [
        Merge(_attach_managed("policy_arn"), "users", ("aws_iam_user",)),
        Merge(_attach_managed("policy_arn"), "roles", ("aws_iam_role",)),
        Merge(
            _chain(
                _policy_entity("PolicyUsers", "UserName", "users"),
                _policy_entity("PolicyRoles", "RoleName", "roles"),
                _policy_entity("PolicyGroups", "GroupName", "groups"),
            ),
            "policy_arn",
            ("aws_iam_policy",),
        ),
    ],
    "aws_iam_policy": [
        Spec(
            "aws.iam.policy",
            fields=(
                ("name", "PolicyName"),
                ("path", "Path"),
                ("policy", "PolicyVersion.Document", _parse_document),
            ),
            name="name",
            keys=("name",),
            tags="tags",
        )
    ],
    "aws_iam_role": [
        Spec(
            "aws.iam.role",
            fields=(
                ("name", "RoleName"),
                ("path", "Path"),
                ("assume_role_policy", "AssumeRolePolicyDocument", _parse_document),
                ("permissions_boundary", "PermissionsBoundary.PermissionsBoundaryArn"),
            ),
            name="name",
            keys=("name",),
            tags="tags",
            build=_chain(
                _inline_policies("inline_policy", "name", "policy", "RolePolicyList"),
                _managed_arns("managed_policy_arns"),
            ),
        )
    ],
    "aws_iam_role_policy": [Merge(_append_policy("RolePolicyList"), "role", ("aws_iam_role",))],
    "aws_config_configuration_recorder": [
        Merge(_tf_recorder, singleton="aws.config.settings", singleton_defaults=_CONFIG_SETTINGS)
    ],
    "aws_config_configuration_recorder_status": [
        Merge(_tf_recorder_status, singleton="aws.config.settings", singleton_defaults=_CONFIG_SETTINGS)
    ],
    "aws_config_delivery_channel": [
        Merge(_tf_delivery_channel, singleton="aws.config.settings", singleton_defaults=_CONFIG_SETTINGS)
    ],
    "aws_eks_cluster": [
        Spec(
            "aws.eks.cluster",
            fields=(
                ("name", "name"),
                ("version", "version"),
                ("role_arn", "roleArn"),
                ("vpc_config.subnet_ids", "resourcesVpcConfig.subnetIds"),
                ("vpc_config.security_group_ids", "resourcesVpcConfig.securityGroupIds"),
                ("vpc_config.endpoint_public_access", "resourcesVpcConfig.endpointPublicAccess", _bool),
                ("vpc_config.endpoint_private_access", "resourcesVpcConfig.endpointPrivateAccess", _bool),
                ("vpc_config.public_access_cidrs", "resourcesVpcConfig.publicAccessCidrs"),
            ),
            name="name",
            keys=("name",),
            build=_tf_eks,
            tags="tags",
        )
    ],
    "aws_ecr_repository": [
        Spec(
            "aws.ecr.repository",
            fields=(
                ("name", "repositoryName"),
                ("image_tag_mutability", "imageTagMutability"),
                ("image_scanning_configuration.scan_on_push", "imageScanningConfiguration.scanOnPush", _bool),
                ("encryption_configuration.encryption_type", "encryptionConfiguration.encryptionType"),
                ("encryption_configuration.kms_key", "encryptionConfiguration.kmsKey"),
            ),
            name="name",
            keys=("name",),
            tags="tags",
        )
    ],
    "aws_ecr_repository_policy": [
        Merge(_set("policy", "policy", _parse_document), "repository", ("aws_ecr_repository",))
    ],
    "aws_ecr_lifecycle_policy": [
        Merge(_set("lifecyclePolicy", "policy", _parse_document), "repository", ("aws_ecr_repository",))
    ],
    "aws_cloudwatch_log_group": [
        Spec(
            "aws.logs.log_group",
            fields=(
                ("name", "logGroupName"),
                ("retention_in_days", "retentionInDays", _int),
                ("kms_key_id", "kmsKeyId"),
            ),
            name="name",
            keys=("name",),
            tags="tags",
        )
    ],
    "aws_cloudwatch_log_metric_filter": [
        Spec(
            "aws.logs.metric_filter",
            fields=(("name", "filterName"), ("pattern", "filterPattern"), ("log_group_name", "logGroupName")),
            name="name",
            build=_tf_metric_filter,
        )
    ],
    "aws_cloudwatch_metric_alarm": [
        Spec(
            "aws.cloudwatch.alarm",
            fields=(
                ("alarm_name", "AlarmName"),
                ("metric_name", "MetricName"),
                ("namespace", "Namespace"),
                ("statistic", "Statistic"),
                ("threshold", "Threshold"),
                ("comparison_operator", "ComparisonOperator"),
                ("evaluation_periods", "EvaluationPeriods", _int),
                ("period", "Period", _int),
                ("actions_enabled", "ActionsEnabled", _bool),
                ("alarm_actions", "AlarmActions"),
                ("ok_actions", "OKActions"),
                ("insufficient_data_actions", "InsufficientDataActions"),
            ),
            name="alarm_name",
            build=_dimensions("dimensions"),
            tags="tags",
        )
    ],
    "aws_sns_topic": [
        Spec(
            "aws.sns.topic",
            fields=(
                ("display_name", "Attributes.DisplayName"),
                ("kms_master_key_id", "Attributes.KmsMasterKeyId"),
                ("policy", "Attributes.Policy", _parse_document),
            ),
            name="name",
            tags="tags",
        )
    ],
    "aws_sns_topic_subscription": [
        Merge(_subscription("protocol", "endpoint"), "topic_arn", ("aws_sns_topic",))
    ],
}


def _rds_copy_source(src: Src, draft: Draft, args: tuple[str, ...]) -> None:
    """Restored or replicated instances inherit encryption from their source: unknown here."""
    for arg in args:
        if (
            src.get(arg) is not ABSENT
            and src.get("storage_encrypted") is ABSENT
            and src.get("StorageEncrypted") is ABSENT
        ):
            draft.put("StorageEncrypted", UNKNOWN, src.origin(arg))


# --- CloudFormation --------------------------------------------------------------------------


def _cfn_bucket(src: Src, draft: Draft) -> None:
    if src.get("BucketName") is ABSENT:
        draft.put("Name", UNKNOWN)
    status = src.get("VersioningConfiguration.Status")
    if status is not ABSENT:
        draft.put("Versioning.Status", status, src.origin("VersioningConfiguration.Status"))
    if src.get("PublicAccessBlockConfiguration") is not ABSENT:
        for flag in _PAB_FLAGS:  # a given configuration leaves unlisted flags false
            path = f"PublicAccessBlockConfiguration.{flag}"
            draft.put(path, _bool(src.get(path, False)), src.origin(path))
    if src.get("BucketEncryption") is not ABSENT:
        rules: list[Any] = []
        for _at, rule in src.items("BucketEncryption.ServerSideEncryptionConfiguration"):
            if not isinstance(rule, dict):
                rules.append(UNKNOWN)
                continue
            default = rule.get("ServerSideEncryptionByDefault") or {}
            applied = (
                {"SSEAlgorithm": default.get("SSEAlgorithm", UNKNOWN)} if isinstance(default, dict) else {}
            )
            if isinstance(default, dict) and "KMSMasterKeyID" in default:
                applied["KMSMasterKeyID"] = default["KMSMasterKeyID"]
            rules.append(
                {
                    "ApplyServerSideEncryptionByDefault": applied,
                    "BucketKeyEnabled": _bool(rule.get("BucketKeyEnabled", False)),
                }
            )
        draft.put("ServerSideEncryptionConfiguration", {"Rules": rules}, src.origin("BucketEncryption"))
    if src.get("LoggingConfiguration") is not ABSENT:
        target = src.get("LoggingConfiguration.DestinationBucketName", UNKNOWN)  # absent: the bucket itself
        draft.put(
            "Logging",
            {
                "LoggingEnabled": {
                    "TargetBucket": target,
                    "TargetPrefix": src.get("LoggingConfiguration.LogFilePrefix", ""),
                }
            },
            src.origin("LoggingConfiguration"),
        )
    if src.get("AccessControl") is not ABSENT:
        draft.put("Acl", canned_acl(src.get("AccessControl")), src.origin("AccessControl"))
    if src.get("OwnershipControls") is not ABSENT:
        draft.put("OwnershipControls", src.get("OwnershipControls"), src.origin("OwnershipControls"))


def _cfn_rule(rule: dict[str, Any]) -> dict[str, Any]:
    groups = [
        g
        for g in (
            rule.get("SourceSecurityGroupId"),
            rule.get("DestinationSecurityGroupId"),
            rule.get("SourceSecurityGroupName"),
        )
        if g is not None
    ]
    prefixes = [
        p for p in (rule.get("SourcePrefixListId"), rule.get("DestinationPrefixListId")) if p is not None
    ]
    return _permission(
        rule.get("IpProtocol", UNKNOWN),
        rule.get("FromPort", ABSENT),
        rule.get("ToPort", ABSENT),
        rule.get("CidrIp"),
        rule.get("CidrIpv6"),
        groups,
        prefixes,
        rule.get("Description"),
    )


def _cfn_sg(src: Src, draft: Draft) -> None:
    """No ``SecurityGroupEgress`` given: AWS keeps its default allow-all egress rule."""
    for prop, dest in (
        ("SecurityGroupIngress", "IpPermissions"),
        ("SecurityGroupEgress", "IpPermissionsEgress"),
    ):
        given = src.get(prop)
        if given is ABSENT:
            draft.put(dest, [] if dest == "IpPermissions" else [copy.deepcopy(_ALLOW_ALL_EGRESS)])
            continue
        draft.put(dest, [], src.origin(prop))
        for at, rule in src.items(prop):
            draft.append(dest, _cfn_rule(rule) if isinstance(rule, dict) else UNKNOWN, src.origin(at))


def _cfn_sg_rule(egress: bool) -> Builder:
    def apply(src: Src, draft: Draft) -> None:
        dest = "IpPermissionsEgress" if egress else "IpPermissions"
        if (
            egress
            and draft.attributes.get(dest) == [_ALLOW_ALL_EGRESS]
            and draft.block_type.startswith("AWS::")
        ):
            draft.put(dest, [])  # the first explicit egress rule replaces AWS's default one
        draft.append(dest, _cfn_rule(src.block.values), src.block.location)

    return apply


def _cfn_nacl(src: Src, draft: Draft) -> None:
    draft.put("Entries", [dict(e) for e in _NACL_IMPLICIT])


def _cfn_instance(src: Src, draft: Draft) -> None:
    profile = src.get("IamInstanceProfile")
    draft.put(
        "IamInstanceProfile",
        None if profile is ABSENT else {"Arn": profile, "Id": UNKNOWN},
        src.origin("IamInstanceProfile"),
    )
    _instance_groups(src, draft, "SecurityGroupIds", "SecurityGroups")
    # MetadataOptions is set through a launch template in CloudFormation (not followed): unknown.
    draft.put("MetadataOptions", {"HttpTokens": UNKNOWN, "HttpEndpoint": UNKNOWN})


def _cfn_trail(src: Src, draft: Draft) -> None:
    draft.put("Status", {"IsLogging": draft.attributes.get("IsLogging", UNKNOWN)})
    basic = [_event_selector(sel, {}) for _at, sel in src.items("EventSelectors") if isinstance(sel, dict)]
    advanced = [a for _at, a in src.items("AdvancedEventSelectors")]  # already the API's shape
    _trail_selectors(
        draft, basic, advanced, src.origin("EventSelectors"), src.origin("AdvancedEventSelectors")
    )


def _cfn_policies(prop: str, dest: str) -> Builder:
    return _inline_policies(prop, "PolicyName", "PolicyDocument", dest)


def _cfn_managed_policy(src: Src, draft: Draft) -> None:
    """``AWS::IAM::ManagedPolicy`` names its principals itself (Users/Roles/Groups)."""
    for prop, list_name, key in (
        ("Users", "PolicyUsers", "UserName"),
        ("Roles", "PolicyRoles", "RoleName"),
        ("Groups", "PolicyGroups", "GroupName"),
    ):
        draft.put(list_name, [_principal(key, p) for p in _as_list(src.get(prop))], src.origin(prop))
    _count_attachments(draft)


def _cfn_user(src: Src, draft: Draft) -> None:
    if src.get("LoginProfile") is not ABSENT:
        _login_profile(
            draft, src.get("LoginProfile.PasswordResetRequired", False), src.origin("LoginProfile")
        )
    draft.put("GroupList", _as_list(src.get("Groups")), src.origin("Groups"))


def _cfn_inline_policy_resource(src: Src, draft: Draft) -> None:
    """``AWS::IAM::Policy`` is an inline policy of each principal it names."""
    dest = {"aws.iam.user": "UserPolicyList", "aws.iam.role": "RolePolicyList"}.get(draft.kind)
    if dest:
        draft.append(
            dest,
            {
                "PolicyName": src.get("PolicyName", UNKNOWN),
                "PolicyDocument": src.get("PolicyDocument", UNKNOWN),
            },
            src.block.location,
        )


def _cfn_recorder(src: Src, draft: Draft) -> None:
    name = src.get("Name", UNKNOWN)
    _append_recorder(
        src,
        draft,
        name,
        "RoleARN",
        (
            "RecordingGroup.AllSupported",
            "RecordingGroup.IncludeGlobalResourceTypes",
            "RecordingGroup.ResourceTypes",
        ),
    )
    # CloudFormation starts the recorder once its delivery channel exists (set by the channel).
    draft.append("ConfigurationRecordersStatus", {"name": name, "recording": False})


def _cfn_delivery_channel(src: Src, draft: Draft) -> None:
    _append_channel(
        src,
        draft,
        src.get("Name", UNKNOWN),
        "S3BucketName",
        (("S3KeyPrefix", "s3KeyPrefix"), ("SnsTopicARN", "snsTopicARN")),
    )
    for status in _as_list(draft.attributes.get("ConfigurationRecordersStatus")):
        if isinstance(status, dict):
            status["recording"] = True


def _cfn_eks(src: Src, draft: Draft) -> None:
    logging = src.get("Logging.ClusterLogging.EnabledTypes")
    types = [t.get("Type", UNKNOWN) if isinstance(t, dict) else UNKNOWN for t in _as_list(logging)]
    draft.put("logging", _cluster_logging(types), src.origin("Logging"))
    configs = [
        {
            "resources": _as_list(c.get("Resources")),
            "provider": {"keyArn": (c.get("Provider") or {}).get("KeyArn", UNKNOWN)},
        }
        for _at, c in src.items("EncryptionConfig")
        if isinstance(c, dict)
    ]
    draft.put("encryptionConfig", configs or None, src.origin("EncryptionConfig"))


def _cfn_metric_filter(src: Src, draft: Draft) -> None:
    transforms = []
    for _at, t in src.items("MetricTransformations"):
        if isinstance(t, dict):
            shaped = {
                "metricName": t.get("MetricName", UNKNOWN),
                "metricNamespace": t.get("MetricNamespace", UNKNOWN),
                "metricValue": _str(t.get("MetricValue", UNKNOWN)),
            }
            if "DefaultValue" in t:
                shaped["defaultValue"] = t["DefaultValue"]
            transforms.append(shaped)
    draft.put("metricTransformations", transforms, src.origin("MetricTransformations"))


def _cfn_topic(src: Src, draft: Draft) -> None:
    for _at, sub in src.items("Subscription"):
        if isinstance(sub, dict):
            draft.append(
                "Subscriptions",
                _subscription_entry(sub.get("Protocol", UNKNOWN), sub.get("Endpoint", UNKNOWN), src),
            )


CLOUDFORMATION: Final[dict[str, list[Rule]]] = {
    "AWS::S3::Bucket": [
        Spec(
            "aws.s3.bucket",
            fields=(("BucketName", "Name"),),
            name="BucketName",
            keys=("BucketName",),
            build=_cfn_bucket,
            tags="Tags",
        )
    ],
    "AWS::S3::BucketPolicy": [Merge(_set("Policy", "PolicyDocument"), "Bucket", ("AWS::S3::Bucket",))],
    "AWS::EC2::SecurityGroup": [
        Spec(
            "aws.ec2.security_group",
            fields=(("GroupName", "GroupName"), ("GroupDescription", "Description"), ("VpcId", "VpcId")),
            name="GroupName",
            build=_cfn_sg,
            tags="Tags",
        )
    ],
    "AWS::EC2::SecurityGroupIngress": [Merge(_cfn_sg_rule(False), "GroupId", ("AWS::EC2::SecurityGroup",))],
    "AWS::EC2::SecurityGroupEgress": [Merge(_cfn_sg_rule(True), "GroupId", ("AWS::EC2::SecurityGroup",))],
    "AWS::EC2::NetworkAcl": [
        Spec(
            "aws.ec2.network_acl",
            fields=(("VpcId", "VpcId"),),
            build=_cfn_nacl,
            tags="Tags",
        )
    ],
    "AWS::EC2::NetworkAclEntry": [
        Merge(
            _nacl_rule(
                "RuleNumber",
                "RuleAction",
                "Egress",
                "Protocol",
                "CidrBlock",
                "Ipv6CidrBlock",
                "PortRange.From",
                "PortRange.To",
            ),
            "NetworkAclId",
            ("AWS::EC2::NetworkAcl",),
        )
    ],
    "AWS::EC2::VPC": [
        Spec(
            "aws.ec2.vpc",
            fields=(("CidrBlock", "CidrBlock"),),
            tags="Tags",
        )
    ],
    "AWS::EC2::FlowLog": [
        Merge(
            _flow_log(
                "TrafficType",
                "LogDestinationType",
                tuple((p, p) for p in ("LogDestination", "LogGroupName", "DeliverLogsPermissionArn")),
            ),
            "ResourceId",
            ("AWS::EC2::VPC",),
        )
    ],
    "AWS::EC2::Instance": [
        Spec(
            "aws.ec2.instance",
            fields=(("ImageId", "ImageId"), ("InstanceType", "InstanceType"), ("SubnetId", "SubnetId")),
            # No AssociatePublicIpAddress here (it sits in NetworkInterfaces, not followed).
            unknown=("PublicIpAddress",),
            build=_cfn_instance,
            tags="Tags",
        )
    ],
    "AWS::EC2::Volume": [
        Spec(
            "aws.ec2.volume",
            fields=(
                ("Encrypted", "Encrypted", _bool),
                ("KmsKeyId", "KmsKeyId"),
                ("Size", "Size", _int),
                ("VolumeType", "VolumeType"),
                ("AvailabilityZone", "AvailabilityZone"),
            ),
            tags="Tags",
        )
    ],
    "AWS::RDS::DBInstance": [
        Spec(
            "aws.rds.db_instance",
            fields=(
                ("DBInstanceIdentifier", "DBInstanceIdentifier"),
                ("Engine", "Engine"),
                ("EngineVersion", "EngineVersion"),
                ("DBInstanceClass", "DBInstanceClass"),
                ("StorageEncrypted", "StorageEncrypted", _bool),
                ("KmsKeyId", "KmsKeyId"),
                ("PubliclyAccessible", "PubliclyAccessible", _bool),
                ("AutoMinorVersionUpgrade", "AutoMinorVersionUpgrade", _bool),
                ("MultiAZ", "MultiAZ", _bool),
                ("DeletionProtection", "DeletionProtection", _bool),
                ("BackupRetentionPeriod", "BackupRetentionPeriod", _int),
                ("EnableIAMDatabaseAuthentication", "IAMDatabaseAuthenticationEnabled", _bool),
                ("DBSubnetGroupName", "DBSubnetGroup.DBSubnetGroupName"),
                ("EnableCloudwatchLogsExports", "EnabledCloudwatchLogsExports"),
            ),
            name="DBInstanceIdentifier",
            build=lambda s, d: _rds_copy_source(s, d, ("DBSnapshotIdentifier", "SourceDBInstanceIdentifier")),
            tags="Tags",
        )
    ],
    "AWS::EFS::FileSystem": [
        Spec(
            "aws.efs.file_system",
            fields=(
                ("Encrypted", "Encrypted", _bool),
                ("KmsKeyId", "KmsKeyId"),
                ("PerformanceMode", "PerformanceMode"),
                ("ThroughputMode", "ThroughputMode"),
                ("FileSystemPolicy", "FileSystemPolicy"),
                ("BackupPolicy.Status", "BackupPolicy.Status"),
            ),
            tags="FileSystemTags",
        )
    ],
    "AWS::KMS::Key": [
        Spec(
            "aws.kms.key",
            fields=(
                ("Description", "Description"),
                ("KeyUsage", "KeyUsage"),
                ("KeySpec", "KeySpec"),
                ("MultiRegion", "MultiRegion", _bool),
                ("KeyPolicy", "Policy", _parse_document),
                ("RotationPeriodInDays", "RotationPeriodInDays", _int),
            ),
            build=_kms("Enabled", "EnableKeyRotation"),
            tags="Tags",
        )
    ],
    "AWS::KMS::Alias": [Merge(_append("Aliases", "AliasName"), "TargetKeyId", ("AWS::KMS::Key",))],
    "AWS::CloudTrail::Trail": [
        Spec(
            "aws.cloudtrail.trail",
            fields=(
                ("TrailName", "Name"),
                ("S3BucketName", "S3BucketName"),
                ("S3KeyPrefix", "S3KeyPrefix"),
                ("IsMultiRegionTrail", "IsMultiRegionTrail", _bool),
                ("IncludeGlobalServiceEvents", "IncludeGlobalServiceEvents", _bool),
                ("IsOrganizationTrail", "IsOrganizationTrail", _bool),
                ("EnableLogFileValidation", "LogFileValidationEnabled", _bool),
                ("KMSKeyId", "KmsKeyId"),
                ("CloudWatchLogsLogGroupArn", "CloudWatchLogsLogGroupArn"),
                ("CloudWatchLogsRoleArn", "CloudWatchLogsRoleArn"),
                ("IsLogging", "IsLogging", _bool),
            ),
            # TrailName left out: CloudFormation generates one; IsLogging is a required property.
            defaults={"Name": UNKNOWN, "IsLogging": UNKNOWN},
            name="TrailName",
            build=_cfn_trail,
            tags="Tags",
        )
    ],
    "AWS::IAM::User": [
        Spec(
            "aws.iam.user",
            fields=(
                ("UserName", "UserName"),
                ("Path", "Path"),
                ("PermissionsBoundary", "PermissionsBoundary.PermissionsBoundaryArn"),
            ),
            defaults={"UserName": UNKNOWN},  # UserName left out: CloudFormation generates one
            name="UserName",
            keys=("UserName",),
            tags="Tags",
            build=_chain(
                _cfn_policies("Policies", "UserPolicyList"), _managed_arns("ManagedPolicyArns"), _cfn_user
            ),
        )
    ],
    "AWS::IAM::AccessKey": [Merge(_access_key("Status"), "UserName", ("AWS::IAM::User",))],
    "AWS::IAM::Role": [
        Spec(
            "aws.iam.role",
            fields=(
                ("RoleName", "RoleName"),
                ("Path", "Path"),
                ("AssumeRolePolicyDocument", "AssumeRolePolicyDocument", _parse_document),
                ("PermissionsBoundary", "PermissionsBoundary.PermissionsBoundaryArn"),
            ),
            name="RoleName",
            keys=("RoleName",),
            tags="Tags",
            build=_chain(_cfn_policies("Policies", "RolePolicyList"), _managed_arns("ManagedPolicyArns")),
        )
    ],
    "AWS::IAM::ManagedPolicy": [
        Spec(
            "aws.iam.policy",
            fields=(
                ("ManagedPolicyName", "PolicyName"),
                ("Path", "Path"),
                ("PolicyDocument", "PolicyVersion.Document", _parse_document),
            ),
            name="ManagedPolicyName",
            build=_cfn_managed_policy,
        )
    ],
    "AWS::IAM::Policy": [
        Merge(_cfn_inline_policy_resource, "Users", ("AWS::IAM::User",)),
        Merge(_cfn_inline_policy_resource, "Roles", ("AWS::IAM::Role",)),
    ],
    "AWS::Config::ConfigurationRecorder": [
        Merge(_cfn_recorder, singleton="aws.config.settings", singleton_defaults=_CONFIG_SETTINGS)
    ],
    "AWS::Config::DeliveryChannel": [
        Merge(_cfn_delivery_channel, singleton="aws.config.settings", singleton_defaults=_CONFIG_SETTINGS)
    ],
    "AWS::EKS::Cluster": [
        Spec(
            "aws.eks.cluster",
            fields=(
                ("Name", "name"),
                ("Version", "version"),
                ("RoleArn", "roleArn"),
                ("ResourcesVpcConfig.SubnetIds", "resourcesVpcConfig.subnetIds"),
                ("ResourcesVpcConfig.SecurityGroupIds", "resourcesVpcConfig.securityGroupIds"),
                ("ResourcesVpcConfig.EndpointPublicAccess", "resourcesVpcConfig.endpointPublicAccess", _bool),
                (
                    "ResourcesVpcConfig.EndpointPrivateAccess",
                    "resourcesVpcConfig.endpointPrivateAccess",
                    _bool,
                ),
                ("ResourcesVpcConfig.PublicAccessCidrs", "resourcesVpcConfig.publicAccessCidrs"),
            ),
            defaults={"name": UNKNOWN},  # Name left out: CloudFormation generates one
            name="Name",
            build=_cfn_eks,
            tags="Tags",
        )
    ],
    "AWS::ECR::Repository": [
        Spec(
            "aws.ecr.repository",
            fields=(
                ("RepositoryName", "repositoryName"),
                ("ImageTagMutability", "imageTagMutability"),
                ("ImageScanningConfiguration.ScanOnPush", "imageScanningConfiguration.scanOnPush", _bool),
                ("EncryptionConfiguration.EncryptionType", "encryptionConfiguration.encryptionType"),
                ("EncryptionConfiguration.KmsKey", "encryptionConfiguration.kmsKey"),
                ("RepositoryPolicyText", "policy", _parse_document),
                ("LifecyclePolicy.LifecyclePolicyText", "lifecyclePolicy", _parse_document),
            ),
            defaults={"repositoryName": UNKNOWN},  # RepositoryName left out: CloudFormation generates one
            name="RepositoryName",
            tags="Tags",
        )
    ],
    "AWS::Logs::LogGroup": [
        Spec(
            "aws.logs.log_group",
            fields=(
                ("LogGroupName", "logGroupName"),
                ("RetentionInDays", "retentionInDays", _int),
                ("KmsKeyId", "kmsKeyId"),
            ),
            defaults={"logGroupName": UNKNOWN},  # LogGroupName left out: CloudFormation generates one
            name="LogGroupName",
            keys=("LogGroupName",),
            tags="Tags",
        )
    ],
    "AWS::Logs::MetricFilter": [
        Spec(
            "aws.logs.metric_filter",
            fields=(
                ("FilterName", "filterName"),
                ("FilterPattern", "filterPattern"),
                ("LogGroupName", "logGroupName"),
            ),
            defaults={"filterName": UNKNOWN},  # FilterName left out: CloudFormation generates one
            name="FilterName",
            build=_cfn_metric_filter,
        )
    ],
    "AWS::CloudWatch::Alarm": [
        Spec(
            "aws.cloudwatch.alarm",
            fields=(
                ("AlarmName", "AlarmName"),
                ("MetricName", "MetricName"),
                ("Namespace", "Namespace"),
                ("Statistic", "Statistic"),
                ("Threshold", "Threshold"),
                ("ComparisonOperator", "ComparisonOperator"),
                ("EvaluationPeriods", "EvaluationPeriods", _int),
                ("Period", "Period", _int),
                ("ActionsEnabled", "ActionsEnabled", _bool),
                ("AlarmActions", "AlarmActions"),
                ("OKActions", "OKActions"),
                ("InsufficientDataActions", "InsufficientDataActions"),
                ("Dimensions", "Dimensions"),
            ),
            defaults={"AlarmName": UNKNOWN},  # AlarmName left out: CloudFormation generates one
            name="AlarmName",
        )
    ],
    "AWS::SNS::Topic": [
        Spec(
            "aws.sns.topic",
            fields=(
                ("DisplayName", "Attributes.DisplayName"),
                ("KmsMasterKeyId", "Attributes.KmsMasterKeyId"),
            ),
            name="TopicName",
            build=_cfn_topic,
            tags="Tags",
        )
    ],
    "AWS::SNS::Subscription": [
        Merge(_subscription("Protocol", "Endpoint"), "TopicArn", ("AWS::SNS::Topic",))
    ],
    "AWS::SNS::TopicPolicy": [
        Merge(_set("Attributes.Policy", "PolicyDocument", _parse_document), "Topics", ("AWS::SNS::Topic",))
    ],
}


def kinds_for(table: Mapping[str, list[Rule]]) -> dict[str, str]:
    """Declared type → resource kind it produces or configures (for docs and coverage tests)."""
    out: dict[str, str] = {}
    for block_type, rules in table.items():
        for rule in rules:
            if isinstance(rule, Spec):
                out[block_type] = rule.kind
            elif rule.singleton:
                out[block_type] = rule.singleton
            else:
                targets = [r.kind for t in rule.target for r in table.get(t, []) if isinstance(r, Spec)]
                out.setdefault(block_type, targets[0] if targets else "")
    return out


# --- assembly --------------------------------------------------------------------------------


def _tags(value: Any) -> dict[str, str]:
    """Terraform maps and CloudFormation ``[{Key, Value}]`` lists as a flat dict."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if v is not UNKNOWN and v is not None}
    out: dict[str, str] = {}
    for item in _as_list(value):
        if isinstance(item, dict) and isinstance(item.get("Key"), str) and item.get("Value") is not UNKNOWN:
            out[item["Key"]] = str(item.get("Value"))
    return out


# Terraform state and plan files carry the real identifiers (``id``, ``arn``) that source code
# cannot know; they fill the live attributes that are otherwise UNKNOWN.
STATE_IDENTIFIERS: Final[dict[str, tuple[Field, ...]]] = {
    "aws.s3.bucket": (("region", "BucketRegion"),),
    "aws.ec2.security_group": (("id", "GroupId"), ("arn", "SecurityGroupArn"), ("owner_id", "OwnerId")),
    "aws.ec2.network_acl": (("id", "NetworkAclId"), ("owner_id", "OwnerId")),
    "aws.ec2.vpc": (("id", "VpcId"), ("owner_id", "OwnerId")),
    "aws.ec2.instance": (("id", "InstanceId"), ("public_ip", "PublicIpAddress")),
    "aws.ec2.volume": (("id", "VolumeId"),),
    "aws.efs.file_system": (("id", "FileSystemId"), ("arn", "FileSystemArn")),
    "aws.kms.key": (("key_id", "KeyId"), ("arn", "Arn")),
    "aws.cloudtrail.trail": (("arn", "TrailARN"), ("home_region", "HomeRegion")),
    "aws.iam.user": (("arn", "Arn"), ("unique_id", "UserId")),
    "aws.iam.role": (("arn", "Arn"), ("unique_id", "RoleId")),
    "aws.iam.policy": (("arn", "Arn"), ("policy_id", "PolicyId")),
    "aws.ecr.repository": (("arn", "repositoryArn"), ("repository_url", "repositoryUri")),
    "aws.sns.topic": (("arn", "TopicArn"),),
    "aws.cloudwatch.alarm": (("arn", "AlarmArn"),),
    "aws.logs.log_group": (("arn", "arn"),),
    "aws.eks.cluster": (("arn", "arn"), ("platform_version", "platformVersion")),
}


def _new_draft(spec: Spec, block: Block) -> Draft:
    src = Src(block)
    draft = Draft(
        kind=spec.kind,
        id=block.address,
        name=block.address.rsplit(".", 1)[-1],
        location=block.location,
        block_type=block.type,
    )
    draft.keys.add(reference(block.address))
    for path in (*AWS_ASSIGNED.get(spec.kind, ()), *spec.unknown):
        draft.put(path, UNKNOWN)
    for path, value in {**LIVE_DEFAULTS.get(spec.kind, {}), **spec.defaults}.items():
        draft.put(path, copy.deepcopy(value))
    if spec.tags:
        draft.tags = _tags(src.get(spec.tags, {}))
        _tags_name(draft)
    copy_fields(src, draft, spec.fields)
    copy_fields(src, draft, STATE_IDENTIFIERS.get(spec.kind, ()))
    for key in ("id", "arn"):
        if isinstance(block.values.get(key), str):
            draft.keys.add(block.values[key])
    if spec.name:
        name = src.get(spec.name)
        if isinstance(name, str) and not is_reference(name):
            draft.name = name
    for key in spec.keys:
        value = src.get(key)
        if isinstance(value, str):
            draft.keys.add(value)
    if spec.build is not None:
        spec.build(src, draft)
    return draft


def _names(value: Any, draft: Draft) -> bool:
    """Does a companion's key value designate ``draft``? (its name, or a reference to it)."""
    for item in _as_list(value):
        if not isinstance(item, str):
            continue
        if item in draft.keys:
            return True
        if is_reference(item) and reference(draft.id)[:-1] + "." in item:
            return True  # <ref:Logical.Attr> (CloudFormation GetAtt) designates Logical
    return False


def build_resources(
    blocks: list[Block], table: Mapping[str, list[Rule]], source: str, *, region: str = "", account: str = ""
) -> tuple[list[Resource], list[IacIssue]]:
    """Map blocks to resources: specs first, then companions merged into their targets."""
    drafts: list[Draft] = []
    by_type: dict[str, list[Draft]] = {}
    pending: list[tuple[Block, Merge]] = []
    singletons: dict[str, Draft] = {}
    warnings: list[IacIssue] = []
    for block in blocks:
        for rule in table.get(block.type, []):
            if isinstance(rule, Spec):
                draft = _new_draft(rule, block)
                drafts.append(draft)
                by_type.setdefault(block.type, []).append(draft)
            else:
                pending.append((block, rule))
    for block, merge in pending:
        src = Src(block)
        if merge.singleton:
            target = singletons.get(merge.singleton)
            if target is None:
                target = Draft(
                    kind=merge.singleton,
                    id=block.address,
                    name=region or block.address,
                    location=block.location,
                )
                for path, value in merge.singleton_defaults.items():
                    target.put(path, copy.deepcopy(value))
                singletons[merge.singleton] = target
                drafts.append(target)
            merge.apply(src, target)
            continue
        key_value = src.get(merge.key)
        candidates = [d for t in merge.target for d in by_type.get(t, [])]
        matched = [d for d in candidates if _names(key_value, d)]
        if not matched:
            if key_value is not ABSENT and candidates is not None and not _external(key_value):
                warnings.append(
                    IacIssue(
                        block.file or block.location,
                        f"{block.address}: cannot tell which "
                        f"{'/'.join(merge.target)} its {merge.key} names; not merged",
                        _line(block.location),
                    )
                )
            continue
        for target in matched:
            merge.apply(src, target)
    resources = []
    for draft in drafts:
        if draft.kind == "aws.ec2.vpc":
            for log in _as_list(draft.attributes.get("FlowLogs")):
                if isinstance(log, dict):
                    log["ResourceId"] = draft.attributes.get("VpcId", UNKNOWN)
        resources.append(
            Resource(
                kind=draft.kind,
                id=draft.id,
                name=draft.name,
                attributes=draft.attributes,
                account=account,
                region=region,
                tags=draft.tags,
                source=source,
                location=draft.location,
                origins=draft.origins,
            )
        )
    return resources, warnings


def _external(value: Any) -> bool:
    """A literal ARN or id of something not declared here (an existing resource): no warning."""
    return any(isinstance(v, str) and not is_reference(v) for v in _as_list(value)) or value is UNKNOWN


def _line(location: str) -> int | None:
    tail = location.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None
