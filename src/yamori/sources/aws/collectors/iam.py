"""IAM: users, groups, roles, managed policies, server certificates and the ``aws.account`` resource.

Why ``GetAccountAuthorizationDetails`` (GAAD) for users, groups and roles: one paginated listing
returns each principal with its inline policy documents, attached managed policies, group
memberships, trust policy and tags. Calling ``List*Policies``/``Get*Policy``/``List*Tags`` per
principal instead costs 4-6 calls per principal against IAM's low rate limit. GAAD is called once
per principal type (``Filter=["User"]`` …) so that a failure costs only the kinds it concerns.

What GAAD lacks is fetched per user: the login profile, access keys with their last use and MFA
devices. The credential report (one CSV for the whole account) is merged into each user and gives
the root user's row to the account resource.

The account resource's id is ``arn:aws:iam::<account>:root`` — the ARN AWS itself uses for the
account as a principal — so it is stable and never collides with a real resource's ARN kind.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import fetch, jsonable, parse_policy, rfc3339, tag_dict
from yamori.sources.aws.interface import CallFailed, CollectContext, Collector

__all__ = ["IamCollector"]

ACCOUNT = "aws.account"
USER = "aws.iam.user"
GROUP = "aws.iam.group"
ROLE = "aws.iam.role"
POLICY = "aws.iam.policy"
SERVER_CERTIFICATE = "aws.iam.server_certificate"

SUPPORT_POLICY_NAME = "AWSSupportAccess"
ROOT_ROW = "<root_account>"
MISSING_ROW = "MissingReportRow"
REPORT_ATTEMPTS = 10  # GenerateCredentialReport polls (AWS usually finishes within seconds)
ENTITY_KEYS = ("PolicyGroups", "PolicyUsers", "PolicyRoles")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T")


class IamCollector(Collector):
    service: ClassVar[str] = "iam"
    scope = "global"
    kinds: ClassVar[tuple[str, ...]] = (ACCOUNT, USER, GROUP, ROLE, POLICY, SERVER_CERTIFICATE)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        report, report_time, report_error = _credential_report(ctx)

        yield from self._users(ctx, report, report_error)
        yield from _principals(ctx, GROUP, "Group", "GroupDetailList", "GroupName", "GroupPolicyList")
        yield from _principals(ctx, ROLE, "Role", "RoleDetailList", "RoleName", "RolePolicyList")

        policies: list[Resource] | None = None
        try:
            policies = list(_policies(ctx))
        except CallFailed as exc:
            ctx.listing_failed(POLICY, exc)
            policies_error: CallFailed | None = exc
        else:
            policies_error = None
            yield from policies

        yield from _server_certificates(ctx)
        yield _account(ctx, report, report_time, report_error, policies, policies_error)

    def _users(
        self, ctx: CollectContext, report: dict[str, dict[str, Any]], report_error: CallFailed | None
    ) -> Iterator[Resource]:
        for user in _principals(ctx, USER, "User", "UserDetailList", "UserName", "UserPolicyList"):
            name = user.name
            fetch(
                ctx,
                user,
                "LoginProfile",
                "iam",
                "get_login_profile",
                lambda a: jsonable(a.get("LoginProfile")),
                not_configured=("NoSuchEntity",),
                UserName=name,
            )
            _access_keys(ctx, user)
            try:
                devices = ctx.paginate("iam", "list_mfa_devices", "MFADevices", UserName=name)
            except CallFailed as exc:
                user.errors["MFADevices"] = str(exc)
            else:
                user.attributes["MFADevices"] = jsonable(devices)
            if report_error is not None:
                user.errors["CredentialReport"] = str(report_error)
            elif user.id in report:
                user.attributes["CredentialReport"] = report[user.id]
            else:  # created after the report was generated
                user.errors["CredentialReport"] = f"{MISSING_ROW}: {user.id} not in the report"
            yield user


def _principals(
    ctx: CollectContext, kind: str, filter_: str, result_key: str, name_key: str, inline_key: str
) -> Iterator[Resource]:
    """Users, groups or roles from GAAD, with inline and trust policy documents parsed."""
    try:
        details = ctx.paginate("iam", "get_account_authorization_details", result_key, Filter=[filter_])
    except CallFailed as exc:
        ctx.listing_failed(kind, exc)
        return
    for detail in details:
        attributes = jsonable({k: v for k, v in detail.items() if k != "Tags"})
        for inline in attributes.get(inline_key) or []:
            inline["PolicyDocument"] = parse_policy(inline.get("PolicyDocument"))
        if "AssumeRolePolicyDocument" in attributes:
            attributes["AssumeRolePolicyDocument"] = parse_policy(attributes["AssumeRolePolicyDocument"])
        for profile in attributes.get("InstanceProfileList") or []:
            for role in profile.get("Roles") or []:
                if "AssumeRolePolicyDocument" in role:
                    role["AssumeRolePolicyDocument"] = parse_policy(role["AssumeRolePolicyDocument"])
        yield Resource(
            kind=kind,
            id=str(detail["Arn"]),
            name=str(detail.get(name_key, "")),
            attributes=attributes,
            account=ctx.account,
            tags=tag_dict(detail.get("Tags")),
        )


def _access_keys(ctx: CollectContext, user: Resource) -> None:
    """``AccessKeys``: ListAccessKeys metadata, each with ``AccessKeyLastUsed`` merged in."""
    try:
        keys = jsonable(ctx.paginate("iam", "list_access_keys", "AccessKeyMetadata", UserName=user.name))
        for key in keys:
            used = ctx.call("iam", "get_access_key_last_used", AccessKeyId=key["AccessKeyId"])
            key["AccessKeyLastUsed"] = jsonable(used.get("AccessKeyLastUsed"))
    except CallFailed as exc:
        user.errors["AccessKeys"] = str(exc)
    else:
        user.attributes["AccessKeys"] = keys


def _policies(ctx: CollectContext) -> Iterator[Resource]:
    """Customer-managed policies, and AWS-managed ones attached to something, with the default
    version's document and the principals they are attached to."""
    listed = ctx.paginate("iam", "list_policies", "Policies", Scope="Local")
    listed += ctx.paginate("iam", "list_policies", "Policies", Scope="AWS", OnlyAttached=True)
    for policy in listed:
        arn = str(policy["Arn"])
        resource = Resource(
            kind=POLICY,
            id=arn,
            name=str(policy.get("PolicyName", "")),
            attributes=jsonable({k: v for k, v in policy.items() if k != "Tags"}),
            account=ctx.account,
            tags=tag_dict(policy.get("Tags")),
        )
        resource.attributes["AwsManaged"] = ":iam::aws:policy/" in arn
        fetch(
            ctx,
            resource,
            "PolicyVersion",
            "iam",
            "get_policy_version",
            _policy_version,
            PolicyArn=arn,
            VersionId=policy.get("DefaultVersionId", "v1"),
        )
        _entities(ctx, resource, int(policy.get("AttachmentCount") or 0))
        yield resource


def _policy_version(answer: dict[str, Any]) -> Any:
    version = jsonable(answer.get("PolicyVersion") or {})
    version["Document"] = parse_policy(version.get("Document"))
    return version


def _entities(ctx: CollectContext, policy: Resource, attachments: int) -> None:
    """``PolicyGroups``/``PolicyUsers``/``PolicyRoles`` (ListEntitiesForPolicy; no call when the
    listing says the policy is attached to nothing)."""
    found: dict[str, list[Any]] = {key: [] for key in ENTITY_KEYS}
    if attachments > 0:
        params: dict[str, Any] = {"PolicyArn": policy.id}
        try:
            while True:
                answer = ctx.call("iam", "list_entities_for_policy", **params)
                for key in ENTITY_KEYS:
                    found[key].extend(jsonable(answer.get(key) or []))
                if not answer.get("IsTruncated") or not answer.get("Marker"):
                    break
                params["Marker"] = answer["Marker"]
        except CallFailed as exc:
            for key in ENTITY_KEYS:
                policy.errors[key] = str(exc)
            return
    policy.attributes.update(found)


def _server_certificates(ctx: CollectContext) -> Iterator[Resource]:
    try:
        certificates = ctx.paginate("iam", "list_server_certificates", "ServerCertificateMetadataList")
    except CallFailed as exc:
        ctx.listing_failed(SERVER_CERTIFICATE, exc)
        return
    for cert in certificates:
        yield Resource(
            kind=SERVER_CERTIFICATE,
            id=str(cert["Arn"]),
            name=str(cert.get("ServerCertificateName", "")),
            attributes=jsonable(cert),
            account=ctx.account,
        )


def _account(
    ctx: CollectContext,
    report: dict[str, dict[str, Any]],
    report_time: str | None,
    report_error: CallFailed | None,
    policies: list[Resource] | None,
    policies_error: CallFailed | None,
) -> Resource:
    account = Resource(
        kind=ACCOUNT,
        id=f"arn:aws:iam::{ctx.account}:root",
        name=ctx.account,
        attributes={"AccountId": ctx.account},
        account=ctx.account,
    )
    a = account.attributes
    try:
        aliases = ctx.paginate("iam", "list_account_aliases", "AccountAliases")
    except CallFailed as exc:
        account.errors["AccountAliases"] = str(exc)
    else:
        a["AccountAliases"] = list(aliases)
        if aliases:
            account.name = str(aliases[0])
    fetch(
        ctx,
        account,
        "PasswordPolicy",
        "iam",
        "get_account_password_policy",
        lambda r: jsonable(r.get("PasswordPolicy")),
        not_configured=("NoSuchEntity",),
    )
    fetch(
        ctx, account, "AccountSummary", "iam", "get_account_summary", lambda r: jsonable(r.get("SummaryMap"))
    )
    if report_error is not None:
        account.errors["RootCredentialReport"] = str(report_error)
        account.errors["CredentialReportGeneratedTime"] = str(report_error)
    else:
        a["CredentialReportGeneratedTime"] = report_time
        if ROOT_ROW in report:
            a["RootCredentialReport"] = report[ROOT_ROW]
        else:  # AWS always writes it; moto does not
            account.errors["RootCredentialReport"] = f"{MISSING_ROW}: no {ROOT_ROW} row"
    try:
        devices = ctx.paginate("iam", "list_virtual_mfa_devices", "VirtualMFADevices", AssignmentStatus="Any")
    except CallFailed as exc:
        account.errors["VirtualMFADevices"] = str(exc)
    else:
        a["VirtualMFADevices"] = [
            jsonable({k: v for k, v in d.items() if k not in ("Base32StringSeed", "QRCodePNG")})
            for d in devices
        ]
    fetch(
        ctx,
        account,
        "SAMLProviders",
        "iam",
        "list_saml_providers",
        lambda r: jsonable(r.get("SAMLProviderList") or []),
    )
    fetch(
        ctx,
        account,
        "AlternateContacts",
        "account",
        "get_alternate_contact",
        lambda r: {"SECURITY": jsonable(r.get("AlternateContact"))},
        not_configured=("ResourceNotFoundException",),
        AlternateContactType="SECURITY",
    )
    if a.get("AlternateContacts") is None and "AlternateContacts" in a:
        a["AlternateContacts"] = {"SECURITY": None}  # ResourceNotFoundException: none registered
    _support_access(account, policies, policies_error)
    return account


def _support_access(account: Resource, policies: list[Resource] | None, error: CallFailed | None) -> None:
    """``SupportAccessEntities``: who holds AWSSupportAccess (CIS 1.17), taken from the attached
    AWS-managed policies already collected — no extra call; not listed there means attached to
    nothing."""
    if policies is None:
        account.errors["SupportAccessEntities"] = str(error)
        return
    for policy in policies:
        if policy.name == SUPPORT_POLICY_NAME and policy.attributes.get("AwsManaged"):
            if any(key in policy.errors for key in ENTITY_KEYS):
                account.errors["SupportAccessEntities"] = policy.errors[ENTITY_KEYS[0]]
                return
            account.attributes["SupportAccessEntities"] = {k: policy.attributes[k] for k in ENTITY_KEYS}
            return
    account.attributes["SupportAccessEntities"] = {k: [] for k in ENTITY_KEYS}


def _credential_report(
    ctx: CollectContext,
) -> tuple[dict[str, dict[str, Any]], str | None, CallFailed | None]:
    """Rows by user ARN (the root row under ``<root_account>``), the generation time, or the error."""
    try:
        for attempt in range(REPORT_ATTEMPTS):
            state = ctx.call("iam", "generate_credential_report").get("State")
            if state == "COMPLETE":
                break
            time.sleep(min(2.0, 0.5 * (attempt + 1)))
        answer = ctx.call("iam", "get_credential_report")
    except CallFailed as exc:
        return {}, None, exc
    content = answer.get("Content") or b""
    text = content.decode("utf-8", "replace") if isinstance(content, (bytes, bytearray)) else str(content)
    rows: dict[str, dict[str, Any]] = {}
    for raw in csv.DictReader(io.StringIO(text)):
        row = {key: _report_value(value) for key, value in raw.items() if key}
        if row.get("user") == ROOT_ROW:
            rows[ROOT_ROW] = row
        elif row.get("arn"):
            rows[str(row["arn"])] = row
    generated = answer.get("GeneratedTime")
    return rows, rfc3339(generated) if isinstance(generated, datetime) else None, None


def _report_value(value: str | None) -> Any:
    """Credential report cells: ``true``/``false`` -> bool, ``N/A`` -> None, dates -> RFC 3339 UTC;
    other markers (``no_information``, ``not_supported``) stay as AWS writes them."""
    if value is None:
        return None
    if value in ("true", "TRUE"):
        return True
    if value in ("false", "FALSE"):
        return False
    if value == "N/A":
        return None
    if _DATE.match(value):
        try:
            return rfc3339(datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC))
        except ValueError:
            return value
    return value
