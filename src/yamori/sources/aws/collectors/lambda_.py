"""Lambda functions: configuration (``ListFunctions``), resource policy (``GetPolicy``) and
function URL (``GetFunctionUrlConfig``), one call each per function; "not found" answers are the
value None (no policy, no URL).

Environment variable *values* are never stored (they routinely hold credentials):
``Environment.Variables`` is the sorted list of variable names. Tags are not collected (they need
one more call per function and no posture check reads them yet).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from yamori.model.resource import Resource
from yamori.sources.aws.collectors import fetch, jsonable, parse_policy
from yamori.sources.aws.collectors._regional import without
from yamori.sources.aws.interface import CollectContext, Collector, Scope

__all__ = ["LambdaCollector", "redact_environment"]

SERVICE = "lambda"
KIND = "aws.lambda.function"
NOT_FOUND = ("ResourceNotFoundException",)


def redact_environment(environment: dict[str, Any] | None) -> dict[str, Any] | None:
    """``{"Variables": {name: value}, ...}`` -> ``{"Variables": [names], ...}``."""
    if environment is None:
        return None
    out: dict[str, Any] = jsonable({k: v for k, v in environment.items() if k != "Variables"})
    out["Variables"] = sorted((environment.get("Variables") or {}).keys())
    return out


class LambdaCollector(Collector):
    service: ClassVar[str] = SERVICE
    scope: ClassVar[Scope] = "regional"
    kinds: ClassVar[tuple[str, ...]] = (KIND,)

    def collect(self, ctx: CollectContext) -> Iterator[Resource]:
        functions = ctx.paginate(SERVICE, "list_functions", "Functions")
        for fn in functions:
            name = fn["FunctionName"]
            attributes = without(fn, "Environment")
            attributes["Environment"] = redact_environment(fn.get("Environment"))
            attributes.setdefault("VpcConfig", None)
            res = Resource(kind=KIND, id=fn["FunctionArn"], name=name, attributes=attributes)
            fetch(
                ctx,
                res,
                "Policy",
                SERVICE,
                "get_policy",
                lambda a: parse_policy(a.get("Policy")),
                not_configured=NOT_FOUND,
                FunctionName=name,
            )
            fetch(
                ctx,
                res,
                "FunctionUrlConfig",
                SERVICE,
                "get_function_url_config",
                lambda a: without(a),
                not_configured=NOT_FOUND,
                FunctionName=name,
            )
            yield res
