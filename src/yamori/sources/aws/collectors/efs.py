"""EFS file systems with their resource policy and backup policy.

``DescribeFileSystems`` answers ``Encrypted`` and the tags; the file-system policy and the backup
policy are one call each per file system (``PolicyNotFound`` means "none set": the value None).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import fetch, jsonable, parse_policy, tag_dict
from yamori.sources.aws.collectors._regional import arn, without
from yamori.sources.aws.interface import CollectContext, Collector, Scope

__all__ = ["EfsCollector"]

SERVICE = "efs"
NOT_SET = ("PolicyNotFound", "FileSystemPolicyNotFound", "BackupPolicyNotFound")


class EfsCollector(Collector):
    service: ClassVar[str] = SERVICE
    scope: ClassVar[Scope] = "regional"
    kinds: ClassVar[tuple[str, ...]] = ("aws.efs.file_system",)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        # A failed listing raises CallFailed: the runner records it for the one kind.
        found = ctx.paginate(SERVICE, "describe_file_systems", "FileSystems")
        for fs in found:
            fid = fs["FileSystemId"]
            tags = tag_dict(fs.get("Tags"))
            res = Resource(
                kind="aws.efs.file_system",
                id=fs.get("FileSystemArn") or arn(ctx, "elasticfilesystem", f"file-system/{fid}"),
                name=fs.get("Name") or tags.get("Name") or fid,
                attributes=without(fs, "Tags"),
                tags=tags,
            )
            fetch(
                ctx,
                res,
                "FileSystemPolicy",
                SERVICE,
                "describe_file_system_policy",
                lambda a: parse_policy(a.get("Policy")),
                not_configured=NOT_SET,
                FileSystemId=fid,
            )
            fetch(
                ctx,
                res,
                "BackupPolicy",
                SERVICE,
                "describe_backup_policy",
                lambda a: jsonable(a.get("BackupPolicy")),
                not_configured=NOT_SET,
                FileSystemId=fid,
            )
            yield res
