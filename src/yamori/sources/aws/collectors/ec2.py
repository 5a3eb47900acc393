"""EC2 and VPC: instances, security groups, network ACLs, VPCs (with their flow logs), subnets,
route tables, EBS volumes and snapshots, AMIs owned by the account, and the per-region EC2
settings (EBS default encryption, serial console, image/snapshot public-access blocks, instance
metadata defaults).

Why every kind is one listing call per region (plus one ``DescribeFlowLogs`` joined onto VPCs and
one ``DescribeSnapshots RestorableByUserIds=all`` for public snapshots): accounts hold thousands
of instances, volumes and snapshots, and a per-resource call would make a scan slow and eat into
the account's shared EC2 API rate limit. Attributes keep the ``Describe*`` answers' shapes (minus
``Tags``, which go to ``Resource.tags``), so a policy reads ``IpPermissions[].IpRanges[].CidrIp``
exactly as the AWS documentation names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import each_listing, fetch, jsonable, tag_dict
from yamori.sources.aws.collectors._regional import (
    arn,
    name_tag,
    settings_id,
    without,
)
from yamori.sources.aws.interface import CallFailed, CollectContext, Collector, Scope

__all__ = ["Ec2Collector"]

SERVICE = "ec2"


class Ec2Collector(Collector):
    service: ClassVar[str] = SERVICE
    scope: ClassVar[Scope] = "regional"
    kinds: ClassVar[tuple[str, ...]] = (
        "aws.ec2.settings",
        "aws.ec2.instance",
        "aws.ec2.security_group",
        "aws.ec2.network_acl",
        "aws.ec2.vpc",
        "aws.ec2.subnet",
        "aws.ec2.route_table",
        "aws.ec2.volume",
        "aws.ec2.snapshot",
        "aws.ec2.image",
    )

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        yield settings(ctx)
        listings: tuple[tuple[str, Callable[[CollectContext], Iterable[Resource]]], ...] = (
            ("aws.ec2.instance", instances),
            ("aws.ec2.security_group", security_groups),
            ("aws.ec2.network_acl", network_acls),
            ("aws.ec2.vpc", vpcs),
            ("aws.ec2.subnet", subnets),
            ("aws.ec2.route_table", route_tables),
            ("aws.ec2.volume", volumes),
            ("aws.ec2.snapshot", snapshots),
            ("aws.ec2.image", images),
        )
        yield from each_listing(ctx, listings)


def settings(ctx: CollectContext) -> Resource:
    """``aws.ec2.settings``: always emitted; each setting a call that may fail on its own."""
    res = Resource(kind="aws.ec2.settings", id=settings_id(ctx, SERVICE), name=ctx.region)
    fetch(
        ctx,
        res,
        "EbsEncryptionByDefault",
        SERVICE,
        "get_ebs_encryption_by_default",
        lambda a: bool(a["EbsEncryptionByDefault"]),
    )
    fetch(ctx, res, "EbsDefaultKmsKeyId", SERVICE, "get_ebs_default_kms_key_id", lambda a: a.get("KmsKeyId"))
    fetch(
        ctx,
        res,
        "SerialConsoleAccessEnabled",
        SERVICE,
        "get_serial_console_access_status",
        lambda a: a.get("SerialConsoleAccessEnabled"),
    )
    fetch(
        ctx,
        res,
        "ImageBlockPublicAccessState",
        SERVICE,
        "get_image_block_public_access_state",
        lambda a: a.get("ImageBlockPublicAccessState"),
    )
    fetch(
        ctx,
        res,
        "SnapshotBlockPublicAccessState",
        SERVICE,
        "get_snapshot_block_public_access_state",
        lambda a: a.get("State"),
    )
    fetch(
        ctx,
        res,
        "InstanceMetadataDefaults",
        SERVICE,
        "get_instance_metadata_defaults",
        lambda a: jsonable(a.get("AccountLevel")) or None,
    )
    return res


def _resource(ctx: CollectContext, kind: str, item: dict[str, Any], rid: str, default_name: str) -> Resource:
    tags = tag_dict(item.get("Tags"))
    return Resource(
        kind=kind,
        id=rid,
        name=name_tag(tags, default_name),
        attributes=without(item, "Tags"),
        tags=tags,
    )


def instances(ctx: CollectContext) -> Iterator[Resource]:
    for reservation in ctx.paginate(SERVICE, "describe_instances", "Reservations"):
        for inst in reservation.get("Instances") or []:
            iid = inst["InstanceId"]
            res = _resource(ctx, "aws.ec2.instance", inst, arn(ctx, SERVICE, f"instance/{iid}"), iid)
            for absent_means_none in ("IamInstanceProfile", "PublicIpAddress"):
                res.attributes.setdefault(absent_means_none, None)
            yield res


def security_groups(ctx: CollectContext) -> Iterator[Resource]:
    for sg in ctx.paginate(SERVICE, "describe_security_groups", "SecurityGroups"):
        gid = sg["GroupId"]
        rid = sg.get("SecurityGroupArn") or arn(ctx, SERVICE, f"security-group/{gid}")
        res = _resource(ctx, "aws.ec2.security_group", sg, rid, sg.get("GroupName") or gid)
        res.name = sg.get("GroupName") or res.name
        yield res


def network_acls(ctx: CollectContext) -> Iterator[Resource]:
    for acl in ctx.paginate(SERVICE, "describe_network_acls", "NetworkAcls"):
        aid = acl["NetworkAclId"]
        yield _resource(ctx, "aws.ec2.network_acl", acl, arn(ctx, SERVICE, f"network-acl/{aid}"), aid)


def vpcs(ctx: CollectContext) -> Iterator[Resource]:
    """VPCs with ``FlowLogs``: the flow logs whose ``ResourceId`` is the VPC (one call, joined)."""
    found = ctx.paginate(SERVICE, "describe_vpcs", "Vpcs")
    flow_logs: dict[str, list[Any]] = {}
    flow_error: str | None = None
    try:
        for fl in ctx.paginate(SERVICE, "describe_flow_logs", "FlowLogs"):
            flow_logs.setdefault(str(fl.get("ResourceId", "")), []).append(jsonable(fl))
    except CallFailed as exc:
        flow_error = str(exc)
    for vpc in found:
        vid = vpc["VpcId"]
        res = _resource(ctx, "aws.ec2.vpc", vpc, arn(ctx, SERVICE, f"vpc/{vid}"), vid)
        if flow_error is None:
            res.attributes["FlowLogs"] = flow_logs.get(vid, [])
        else:
            res.errors["FlowLogs"] = flow_error
        yield res


def subnets(ctx: CollectContext) -> Iterator[Resource]:
    for subnet in ctx.paginate(SERVICE, "describe_subnets", "Subnets"):
        sid = subnet["SubnetId"]
        rid = subnet.get("SubnetArn") or arn(ctx, SERVICE, f"subnet/{sid}")
        yield _resource(ctx, "aws.ec2.subnet", subnet, rid, sid)


def route_tables(ctx: CollectContext) -> Iterator[Resource]:
    for table in ctx.paginate(SERVICE, "describe_route_tables", "RouteTables"):
        tid = table["RouteTableId"]
        yield _resource(ctx, "aws.ec2.route_table", table, arn(ctx, SERVICE, f"route-table/{tid}"), tid)


def volumes(ctx: CollectContext) -> Iterator[Resource]:
    for vol in ctx.paginate(SERVICE, "describe_volumes", "Volumes"):
        vid = vol["VolumeId"]
        res = _resource(ctx, "aws.ec2.volume", vol, arn(ctx, SERVICE, f"volume/{vid}"), vid)
        res.attributes.setdefault("KmsKeyId", None)
        yield res


def snapshots(ctx: CollectContext) -> Iterator[Resource]:
    """Snapshots the account owns, with ``Public``: whether the ``all`` group may create volumes
    from it. One extra listing (``OwnerIds=self, RestorableByUserIds=all`` answers exactly the
    public ones) instead of one ``DescribeSnapshotAttribute`` per snapshot."""
    owned = ctx.paginate(SERVICE, "describe_snapshots", "Snapshots", OwnerIds=["self"])
    public: set[str] | None = None
    public_error = ""
    if owned:
        try:
            public = {
                s["SnapshotId"]
                for s in ctx.paginate(
                    SERVICE,
                    "describe_snapshots",
                    "Snapshots",
                    OwnerIds=["self"],
                    RestorableByUserIds=["all"],
                )
            }
        except CallFailed as exc:
            public_error = str(exc)
    for snap in owned:
        sid = snap["SnapshotId"]
        # Snapshot ARNs carry no account (arn:aws:ec2:REGION::snapshot/ID), as AWS writes them.
        res = _resource(ctx, "aws.ec2.snapshot", snap, arn(ctx, SERVICE, f"snapshot/{sid}", account=""), sid)
        if public is None:
            res.errors["Public"] = public_error
        else:
            res.attributes["Public"] = sid in public
        yield res


def images(ctx: CollectContext) -> Iterator[Resource]:
    """AMIs the account owns (``Public`` is in the answer)."""
    for image in ctx.paginate(SERVICE, "describe_images", "Images", Owners=["self"]):
        iid = image["ImageId"]
        res = _resource(ctx, "aws.ec2.image", image, arn(ctx, SERVICE, f"image/{iid}", account=""), iid)
        res.name = res.tags.get("Name") or image.get("Name") or iid
        yield res
