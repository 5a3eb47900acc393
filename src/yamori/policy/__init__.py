"""Policy engine: YAML policies compiled to closures, evaluated over a resource inventory.

See docs/policies.md for the policy format and the condition language.
"""

from yamori.policy.engine import check_resource, evaluate, evaluate_full
from yamori.policy.hooks import get_hook, hook_names, register_hook
from yamori.policy.interface import (
    ABSENT,
    CheckResult,
    Condition,
    EvaluationResult,
    Hook,
    Indeterminate,
    MatchMode,
    Policy,
    PolicyError,
    PolicyLoadError,
    Remediation,
    Scope,
)
from yamori.policy.inventory import Inventory
from yamori.policy.loader import BUILTIN_DIR, SEVERITIES, builtin_policies, load_policies, parse_policies
from yamori.policy.paths import CollectionFailed, read_attribute
from yamori.policy.summary import ControlSummary, FrameworkSummary, framework_summary
from yamori.policy.suppress import (
    TAG_IGNORE,
    TAG_REASON,
    Suppression,
    Suppressions,
    load_suppressions,
    parse_suppressions,
)

__all__ = [
    "ABSENT",
    "BUILTIN_DIR",
    "SEVERITIES",
    "TAG_IGNORE",
    "TAG_REASON",
    "CheckResult",
    "CollectionFailed",
    "Condition",
    "ControlSummary",
    "EvaluationResult",
    "FrameworkSummary",
    "Hook",
    "Indeterminate",
    "Inventory",
    "MatchMode",
    "Policy",
    "PolicyError",
    "PolicyLoadError",
    "Remediation",
    "Scope",
    "Suppression",
    "Suppressions",
    "builtin_policies",
    "check_resource",
    "evaluate",
    "evaluate_full",
    "framework_summary",
    "get_hook",
    "hook_names",
    "load_policies",
    "load_suppressions",
    "parse_policies",
    "parse_suppressions",
    "read_attribute",
    "register_hook",
]
