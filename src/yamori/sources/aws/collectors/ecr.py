"""ECR: repositories (scan on push, tag mutability, encryption, repository policy, lifecycle
policy, tags) and the registry's settings (``aws.ecr.settings``: scanning configuration and
registry policy).

``DescribeRepositories`` answers the configuration; the repository policy, the lifecycle policy
and the tags are one call each per repository ("not found" answers are the value None). Note for
policies: when the registry uses ENHANCED scanning (Amazon Inspector), the repositories'
``imageScanningConfiguration.scanOnPush`` is ignored and the registry ``rules`` decide.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import fetch, jsonable, parse_policy, tag_dict
from yamori.sources.aws.collectors._regional import settings_id, without
from yamori.sources.aws.interface import CallFailed, CollectContext, Collector, Scope

__all__ = ["EcrCollector"]

SERVICE = "ecr"


class EcrCollector(Collector):
    service: ClassVar[str] = SERVICE
    scope: ClassVar[Scope] = "regional"
    kinds: ClassVar[tuple[str, ...]] = ("aws.ecr.settings", "aws.ecr.repository")

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        yield registry_settings(ctx)
        try:
            found = list(repositories(ctx))
        except CallFailed as exc:
            ctx.listing_failed("aws.ecr.repository", exc)
            return
        yield from found


def registry_settings(ctx: CollectContext) -> Resource:
    res = Resource(kind="aws.ecr.settings", id=settings_id(ctx, SERVICE), name=ctx.region)
    fetch(
        ctx,
        res,
        "scanningConfiguration",
        SERVICE,
        "get_registry_scanning_configuration",
        lambda a: jsonable(a.get("scanningConfiguration")),
    )
    fetch(
        ctx,
        res,
        "registryPolicy",
        SERVICE,
        "get_registry_policy",
        lambda a: parse_policy(a.get("policyText")),
        not_configured=("RegistryPolicyNotFoundException",),
    )
    return res


def repositories(ctx: CollectContext) -> Iterator[Resource]:
    for repo in ctx.paginate(SERVICE, "describe_repositories", "repositories"):
        name = repo["repositoryName"]
        registry = repo.get("registryId") or ctx.account
        res = Resource(
            kind="aws.ecr.repository",
            id=repo["repositoryArn"],
            name=name,
            attributes=without(repo),
        )
        fetch(
            ctx,
            res,
            "policy",
            SERVICE,
            "get_repository_policy",
            lambda a: parse_policy(a.get("policyText")),
            not_configured=("RepositoryPolicyNotFoundException",),
            repositoryName=name,
            registryId=registry,
        )
        fetch(
            ctx,
            res,
            "lifecyclePolicy",
            SERVICE,
            "get_lifecycle_policy",
            lambda a: parse_policy(a.get("lifecyclePolicyText")),
            not_configured=("LifecyclePolicyNotFoundException",),
            repositoryName=name,
            registryId=registry,
        )
        try:
            answer = ctx.call(SERVICE, "list_tags_for_resource", resourceArn=repo["repositoryArn"])
            res.tags = tag_dict(answer.get("tags"))
        except CallFailed as exc:
            res.errors["tags"] = str(exc)
        yield res
