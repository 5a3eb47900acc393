"""IAM Access Analyzer per region, as the synthetic ``aws.accessanalyzer.settings`` (always
emitted): ``Analyzers`` is the ``ListAnalyzers`` answer (``arn``, ``name``, ``type`` —
``ACCOUNT``/``ORGANIZATION``/``*_UNUSED_ACCESS`` — and ``status``), ``[]`` when none exists. A
failed listing is recorded in ``errors["Analyzers"]`` so "enabled in every region" gives ERROR,
never PASS, where it could not be seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import fetch_list
from yamori.sources.aws.collectors._regional import settings_id
from yamori.sources.aws.interface import CollectContext, Collector, Scope

__all__ = ["AccessAnalyzerCollector"]

SERVICE = "accessanalyzer"


class AccessAnalyzerCollector(Collector):
    service: ClassVar[str] = SERVICE
    scope: ClassVar[Scope] = "regional"
    kinds: ClassVar[tuple[str, ...]] = ("aws.accessanalyzer.settings",)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        res = Resource(
            kind="aws.accessanalyzer.settings", id=settings_id(ctx, "access-analyzer"), name=ctx.region
        )
        fetch_list(ctx, res, "Analyzers", SERVICE, "list_analyzers", "analyzers")
        yield res
