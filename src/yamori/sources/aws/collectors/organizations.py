"""Organizations: the organization this account belongs to, and its accounts when this is the
management (or a delegated administrator) account.

An account outside any organization answers ``AWSOrganizationsNotInUseException``: a fact, so no
resource and no error. ``ListAccounts`` is refused to member accounts (AccessDenied) — recorded
as a listing failure of ``aws.organizations.account`` only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import jsonable
from yamori.sources.aws.interface import CallFailed, CollectContext, Collector

__all__ = ["OrganizationsCollector"]

ORGANIZATION = "aws.organizations.organization"
ACCOUNT = "aws.organizations.account"
NOT_IN_USE = "AWSOrganizationsNotInUseException"


class OrganizationsCollector(Collector):
    service: ClassVar[str] = "organizations"
    scope = "global"
    kinds: ClassVar[tuple[str, ...]] = (ORGANIZATION, ACCOUNT)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        try:
            organization = ctx.call("organizations", "describe_organization").get("Organization") or {}
        except CallFailed as exc:
            if exc.code == NOT_IN_USE:
                return
            ctx.listing_failed(ORGANIZATION, exc)
        else:
            yield Resource(
                kind=ORGANIZATION,
                id=str(organization["Arn"]),
                name=str(organization.get("Id", "")),
                attributes=jsonable(organization),
                account=ctx.account,
            )
        try:
            accounts = ctx.paginate("organizations", "list_accounts", "Accounts")
        except CallFailed as exc:
            if exc.code == NOT_IN_USE:
                return
            ctx.listing_failed(ACCOUNT, exc)
            return
        for account in accounts:
            yield Resource(
                kind=ACCOUNT,
                id=str(account["Arn"]),
                name=str(account.get("Name", "")),
                attributes=jsonable(account),
                account=ctx.account,
            )
