"""KMS customer-managed keys: metadata, rotation status, default key policy, aliases, tags.

``ListKeys`` returns AWS-managed keys too and only ``DescribeKey`` tells them apart
(``KeyManager``), so every key costs one ``DescribeKey``; AWS-managed keys stop there (AWS rotates
them and owns their policy). A customer key then costs ``GetKeyRotationStatus`` (only symmetric
``ENCRYPT_DECRYPT`` keys with AWS-generated material can rotate; for the others the value is
None: "not applicable"), ``GetKeyPolicy`` and ``ListResourceTags``. Aliases come from one
``ListAliases`` per region, joined by ``TargetKeyId``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import fetch, jsonable, parse_policy, tag_dict
from yamori.sources.aws.interface import CallFailed, CollectContext, Collector, Scope

__all__ = ["KmsCollector"]

SERVICE = "kms"
KIND = "aws.kms.key"


def rotation_applies(meta: dict[str, Any]) -> bool:
    """Whether automatic rotation exists for this key (CIS 3.6: "customer created symmetric")."""
    return (
        meta.get("KeySpec", meta.get("CustomerMasterKeySpec")) == "SYMMETRIC_DEFAULT"
        and (meta.get("KeyUsage") or "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT"  # the API default
        and meta.get("Origin", "AWS_KMS") == "AWS_KMS"
    )


class KmsCollector(Collector):
    service: ClassVar[str] = SERVICE
    scope: ClassVar[Scope] = "regional"
    kinds: ClassVar[tuple[str, ...]] = (KIND,)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        keys = ctx.paginate(SERVICE, "list_keys", "Keys")
        aliases: dict[str, list[str]] = {}
        alias_error: str | None = None
        try:
            for alias in ctx.paginate(SERVICE, "list_aliases", "Aliases"):
                if alias.get("TargetKeyId"):
                    aliases.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
        except CallFailed as exc:
            alias_error = str(exc)
        found: list[Resource] = []
        for key in keys:
            res = self._key(ctx, key, aliases, alias_error)
            if res is not None:
                found.append(res)
        yield from found

    def _key(
        self,
        ctx: CollectContext,
        key: dict[str, Any],
        aliases: dict[str, list[str]],
        alias_error: str | None,
    ) -> Resource | None:
        kid = key["KeyId"]
        try:
            meta = ctx.call(SERVICE, "describe_key", KeyId=kid)["KeyMetadata"]
        except CallFailed as exc:
            # Unknown whether customer-managed: keep the key, say why nothing is known about it.
            return Resource(kind=KIND, id=key.get("KeyArn") or kid, name=kid, errors={"*": str(exc)})
        if meta.get("KeyManager") != "CUSTOMER":
            return None
        names = sorted(aliases.get(kid, []))
        res = Resource(kind=KIND, id=meta["Arn"], name=names[0] if names else kid, attributes=jsonable(meta))
        if alias_error is None:
            res.attributes["Aliases"] = names
        else:
            res.errors["Aliases"] = alias_error
        if rotation_applies(meta):
            try:
                status = ctx.call(SERVICE, "get_key_rotation_status", KeyId=kid)
            except CallFailed as exc:
                if exc.code == "UnsupportedOperationException":
                    res.attributes["KeyRotationEnabled"] = None
                else:
                    res.errors["KeyRotationEnabled"] = str(exc)
            else:
                res.attributes["KeyRotationEnabled"] = bool(status.get("KeyRotationEnabled"))
                res.attributes["RotationPeriodInDays"] = status.get("RotationPeriodInDays")
        else:
            res.attributes["KeyRotationEnabled"] = None
        fetch(
            ctx,
            res,
            "Policy",
            SERVICE,
            "get_key_policy",
            lambda a: parse_policy(a.get("Policy")),
            KeyId=kid,
            PolicyName="default",
        )
        try:
            res.tags = tag_dict(ctx.paginate(SERVICE, "list_resource_tags", "Tags", KeyId=kid))
        except CallFailed as exc:
            res.errors["Tags"] = str(exc)
        return res
