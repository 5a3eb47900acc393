"""The policy engine's contract: what a policy is, what a check returns, what a hook is.

Why policies are data (YAML) rather than Python checks: a check that is data can be validated
before anything runs, listed, mapped to compliance controls and diffed; it cannot call an API or
hide an error in a log (the lesson of Prowler's per-check API clients). Logic data cannot express
(IAM document analysis, joins across resources) lives in *hooks*: small named Python functions that
still only read the collected inventory.

Why the engine knows nothing about AWS: a policy names a resource *kind* and attribute paths; the
same policy evaluates the live object, its Terraform block and its CloudFormation resource,
because every source produces the same :class:`~yamori.model.resource.Resource` shape.

Three-valued logic (plus ERROR): a condition evaluates to ``True``, ``False`` or an
:class:`Indeterminate` carrying ``Status.UNKNOWN`` (a value the source could not know, such as an
unresolved Terraform variable) or ``Status.ERROR`` (the attribute could not be collected). A
policy never reports FAIL on a value it could not see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias

from yamori.model.finding import Finding, Severity, Status
from yamori.model.resource import Resource

if TYPE_CHECKING:
    from yamori.policy.inventory import Inventory
    from yamori.policy.paths import CompiledPath

__all__ = [
    "ABSENT",
    "Absent",
    "CheckResult",
    "Condition",
    "EvalContext",
    "EvaluationResult",
    "Hook",
    "Indeterminate",
    "MatchMode",
    "Policy",
    "PolicyError",
    "PolicyLoadError",
    "Remediation",
    "Scope",
    "Verdict",
]


class Absent:
    """The value of a path whose key does not exist (singleton ``ABSENT``).

    Absent is a *known* fact ("no such setting"), unlike ``UNKNOWN`` ("the source could not tell"):
    ``exists: false`` is true on it and comparisons are false (see docs/policies.md).
    """

    _instance: Absent | None = None

    def __new__(cls) -> Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = Absent()


@dataclass(frozen=True, slots=True)
class Indeterminate:
    """A condition result that is neither true nor false: UNKNOWN or ERROR, with the reason.

    ERROR dominates UNKNOWN when both meet in ``all``/``any``: an error is actionable (grant the
    permission, retry) and hiding it behind UNKNOWN would lose a failed call.
    """

    status: Status  # Status.UNKNOWN or Status.ERROR
    message: str


Verdict: TypeAlias = "bool | Indeterminate"


class EvalContext:
    """Per-evaluation state handed to compiled conditions (mutable, reused across resources)."""

    __slots__ = ("now", "resource")

    def __init__(self, resource: Resource, now: float) -> None:
        self.resource = resource
        self.now = now  # POSIX timestamp used by age operators


ConditionFn: TypeAlias = Callable[[Any, EvalContext], "bool | Indeterminate"]


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition: a closure over ``(root value, context)``, built once at load time.

    ``paths`` are the top-level attribute paths the condition reads; the engine copies their values
    into each finding's evidence.
    """

    fn: ConditionFn
    paths: tuple[str, ...] = ()
    source: str = ""  # file:line of the condition in its policy file

    def __call__(self, resource: Resource, ctx: EvalContext) -> bool | Indeterminate:
        ctx.resource = resource
        return self.fn(resource.attributes, ctx)


class Scope(StrEnum):
    """``resource``: one finding per resource. ``account``: one finding per account, aggregating
    the per-resource results over every resource of the kind in that account (all regions)."""

    RESOURCE = "resource"
    ACCOUNT = "account"


class MatchMode(StrEnum):
    """How an account-scoped policy aggregates: ``any`` resource passes, or ``all`` do."""

    ANY = "any"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class Remediation:
    text: str = ""
    cli: str = ""
    terraform: str = ""
    cloudformation: str = ""
    console: str = ""
    url: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("text", self.text),
                ("cli", self.cli),
                ("terraform", self.terraform),
                ("cloudformation", self.cloudformation),
                ("console", self.console),
                ("url", self.url),
            )
            if v
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a hook (or one policy on one resource) concludes."""

    status: Status  # PASS, FAIL, UNKNOWN, ERROR or NOT_APPLICABLE
    message: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)


class Hook(Protocol):
    """A named check for logic the condition language cannot express.

    Hooks read only ``resource`` and the ``inventory`` (never an API: evaluation is a pure function
    of the snapshot, so it is fast, repeatable and testable). ``args`` is the policy's validated
    ``hook_args`` mapping. Raising is reported as ERROR for that resource, never a crash.
    """

    def __call__(self, resource: Resource, inventory: Inventory, args: Mapping[str, Any]) -> CheckResult: ...


@dataclass(frozen=True, slots=True)
class Policy:
    """One compiled policy. Build with :func:`yamori.policy.load_policies`, not by hand."""

    id: str
    title: str
    severity: Severity
    kinds: tuple[str, ...]
    description: str = ""
    severity_label: str = ""  # as written: critical|high|medium|low|info
    applies_if: Condition | None = None
    condition: Condition | None = None
    hook: str | None = None
    hook_args: Mapping[str, Any] = field(default_factory=dict)
    manual: bool = False
    audit: str = ""
    scope: Scope = Scope.RESOURCE
    match: MatchMode = MatchMode.ANY
    remediation: Remediation = field(default_factory=Remediation)
    references: tuple[str, ...] = ()
    compliance: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()  # explicit evidence paths
    message: Callable[[Resource], str] | None = None  # compiled FAIL message template
    # Paths copied into evidence: the explicit ones first, then those the conditions read.
    evidence_paths: tuple[CompiledPath, ...] = ()
    source: str = ""  # file:line where the policy starts

    @property
    def compliance_refs(self) -> list[str]:
        """``["cis-aws-3.0:1.10", ...]``: the strings findings carry."""
        return [f"{fw}:{ctl}" for fw, ctls in self.compliance.items() for ctl in ctls]


class PolicyError(Exception):
    """One validation error, located at ``file:line``."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


class PolicyLoadError(Exception):
    """Every validation error found while loading (reported together, one per line)."""

    def __init__(self, errors: list[PolicyError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass(slots=True)
class EvaluationResult:
    """Findings plus warnings (expired suppressions) meant for the user, not the findings list."""

    findings: list[Finding]
    warnings: list[str] = field(default_factory=list)
