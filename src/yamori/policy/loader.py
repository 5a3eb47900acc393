"""Loading policy files: YAML -> validated, compiled :class:`Policy` objects.

Why strict: a typo in a policy (``condtion:``, ``eqq:``) that is silently ignored turns a check
into one that always passes. Every unknown key, wrong type, bad operator, unsafe regex, unknown
hook and duplicate id is an error located at ``file:line``; all errors of a load are reported
together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from yamori.model.finding import Severity
from yamori.model.resource import UNKNOWN, Resource
from yamori.policy import hooks
from yamori.policy.conditions import compile_condition
from yamori.policy.hooks.registry import validate_args
from yamori.policy.interface import (
    ABSENT,
    MatchMode,
    Policy,
    PolicyError,
    PolicyLoadError,
    Remediation,
    Scope,
)
from yamori.policy.paths import CompiledPath, PathSyntaxError, compile_path
from yamori.policy.yamlsrc import MarkedList, MarkedMap, load_yaml

__all__ = [
    "BUILTIN_DIR",
    "SEVERITIES",
    "builtin_policies",
    "compile_message",
    "format_value",
    "load_policies",
    "parse_policies",
]

BUILTIN_DIR: Final = Path(__file__).parent / "builtin"

# ``info`` has no Severity of its own: it maps to Severity.UNKNOWN (rank 0, below LOW) so that
# ``--fail-on low`` never trips on informational checks; the label "info" stays on the policy
# and in each finding's evidence so writers can show it.
SEVERITIES: Final[dict[str, Severity]] = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.UNKNOWN,
}

_POLICY_KEYS: Final = (
    "id", "title", "description", "severity", "kind", "applies_if", "condition", "hook", "hook_args",
    "manual", "audit", "scope", "match", "remediation", "references", "compliance", "evidence", "message",
)  # fmt: skip
_REMEDIATION_KEYS: Final = ("text", "cli", "terraform", "cloudformation", "console", "url")
_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_KIND_RE: Final = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+")
_FRAMEWORK_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX_EVIDENCE_PATHS: Final = 24


# ---------------------------------------------------------------------------------------------
# message templates


def format_value(value: Any) -> str:
    """Render a value for messages: strings as-is, containers as JSON, markers in parentheses."""
    if value is ABSENT:
        return "(absent)"
    if value is UNKNOWN:
        return "(unknown)"
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=lambda v: "(unknown)" if v is UNKNOWN else str(v), sort_keys=True)
    return str(value)


_TEMPLATE_RE: Final = re.compile(r"\{\{|\}\}|\{[^{}]*\}|[{}]")
_ENVELOPE: Final[dict[str, Callable[[Resource], str]]] = {
    "name": lambda r: r.name or r.id,
    "id": lambda r: r.id,
    "kind": lambda r: r.kind,
    "account": lambda r: r.account,
    "region": lambda r: r.region,
}


def compile_message(template: str, node: MarkedMap, key: str) -> Callable[[Resource], str]:
    """Compile ``{name}``/``{id}``/``{kind}``/``{account}``/``{region}``/``{attr:Path}``
    placeholders (``{{``/``}}`` for literal braces) into a renderer."""
    parts: list[str | Callable[[Resource], str]] = []
    pos = 0
    for m in _TEMPLATE_RE.finditer(template):
        if m.start() > pos:
            parts.append(template[pos : m.start()])
        token = m.group()
        pos = m.end()
        if token in ("{{", "}}"):
            parts.append(token[0])
            continue
        if token in ("{", "}"):
            raise node.error("unbalanced brace in message template (use '{{' or '}}' for literals)", key)
        name = token[1:-1].strip()
        if name in _ENVELOPE:
            parts.append(_ENVELOPE[name])
        elif name.startswith("attr:"):
            try:
                path = compile_path(name[5:].strip())
            except PathSyntaxError as exc:
                raise node.error(f"message placeholder {token}: {exc}", key) from None
            parts.append(_attr_renderer(path))
        else:
            raise node.error(
                f"unknown message placeholder {token} (expected {{name}}, {{id}}, {{kind}}, {{account}}, "
                "{region} or {attr:Path})",
                key,
            )
    if pos < len(template):
        parts.append(template[pos:])

    def render(resource: Resource) -> str:
        return "".join(p if isinstance(p, str) else p(resource) for p in parts)

    return render


def _attr_renderer(path: CompiledPath) -> Callable[[Resource], str]:
    def render(resource: Resource) -> str:
        if path.error_for(resource) is not None:
            return "(error)"
        return format_value(path.read(resource))

    return render


# ---------------------------------------------------------------------------------------------
# field validation


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _str(node: MarkedMap, key: str, *, required: bool = False, default: str = "") -> str:
    if key not in node:
        if required:
            raise node.error(f"policy is missing required key '{key}'")
        return default
    value = node[key]
    if not isinstance(value, str) or (required and not value.strip()):
        raise node.error(
            f"'{key}' must be a non-empty string" if required else f"'{key}' must be a string", key
        )
    return value


def _str_list(node: MarkedMap, key: str, check: Callable[[str], str | None] | None = None) -> tuple[str, ...]:
    value = node.get(key)
    if value is None and key not in node:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise node.error(f"'{key}' must be a string or a list of strings", key)
    out: list[str] = []
    for i, item in enumerate(items):
        where = items.error if isinstance(items, MarkedList) else None
        if not isinstance(item, str) or not item:
            msg = f"'{key}' items must be non-empty strings, got {item!r}"
            raise where(msg, i) if where else node.error(msg, key)
        problem = check(item) if check else None
        if problem:
            raise where(problem, i) if where else node.error(problem, key)
        out.append(item)
    return tuple(out)


def _check_kind(kind: str) -> str | None:
    return None if _KIND_RE.fullmatch(kind) else f"bad kind {kind!r} (expected provider.service.type)"


def _check_url(url: str) -> str | None:
    return None if url.startswith(("https://", "http://")) else f"reference {url!r} is not an http(s) URL"


def _check_path(path: str) -> str | None:
    try:
        compile_path(path)
    except PathSyntaxError as exc:
        return str(exc)
    return None


def _compliance(node: MarkedMap) -> dict[str, tuple[str, ...]]:
    value = node.get("compliance")
    if "compliance" not in node:
        return {}
    if not isinstance(value, MarkedMap):
        raise node.error("'compliance' must map framework ids to lists of control ids", "compliance")
    out: dict[str, tuple[str, ...]] = {}
    for framework, controls in value.items():
        if not _FRAMEWORK_RE.fullmatch(framework):
            raise value.error(f"bad framework id {framework!r} (letters, digits, '.', '_', '-')", framework)
        items = controls if isinstance(controls, list) else [controls]
        ids: list[str] = []
        for item in items:
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                raise value.error(
                    f"control id {item!r} under {framework!r} must be quoted ('1.10' unquoted reads as 1.1)",
                    framework,
                )
            if not isinstance(item, str) or not item:
                raise value.error(f"control ids under {framework!r} must be non-empty strings", framework)
            ids.append(item)
        if not ids:
            raise value.error(f"no control ids under {framework!r}", framework)
        out[framework] = tuple(ids)
    return out


def _remediation(node: MarkedMap) -> Remediation:
    if "remediation" not in node:
        return Remediation()
    value = node["remediation"]
    if isinstance(value, str):
        return Remediation(text=value)
    if not isinstance(value, MarkedMap):
        raise node.error("'remediation' must be a string or a mapping", "remediation")
    for key in value:
        if key not in _REMEDIATION_KEYS:
            raise value.error(
                f"unknown remediation key {key!r} (expected one of {', '.join(_REMEDIATION_KEYS)})", key
            )
        if not isinstance(value[key], str):
            raise value.error(f"remediation '{key}' must be a string", key)
    return Remediation(**{k: value[k] for k in value})


def _bool(node: MarkedMap, key: str) -> bool:
    value = node.get(key, False)
    if not isinstance(value, bool):
        raise node.error(f"'{key}' must be true or false", key)
    return value


def _enum(node: MarkedMap, key: str, choices: tuple[str, ...], default: str) -> str:
    value = node.get(key, default)
    if value not in choices:
        raise node.error(f"'{key}' must be one of {', '.join(choices)}, got {value!r}", key)
    return str(value)


def parse_policy(node: Any, where: MarkedList | None, index: int, file: str) -> Policy:
    """Validate and compile one policy mapping."""
    if not isinstance(node, MarkedMap):
        if where is not None:
            raise where.error("each policy must be a mapping", index)
        raise PolicyError(file, 1, "each policy must be a mapping")
    for key in node:
        if key not in _POLICY_KEYS:
            raise node.error(f"unknown policy key {key!r} (expected one of {', '.join(_POLICY_KEYS)})", key)
    policy_id = _str(node, "id", required=True)
    if not _ID_RE.fullmatch(policy_id):
        raise node.error(f"bad policy id {policy_id!r} (letters, digits, '.', '_', '-')", "id")
    title = _str(node, "title", required=True)
    label = _str(node, "severity", required=True).lower()
    if label not in SEVERITIES:
        raise node.error(
            f"'severity' must be one of {', '.join(SEVERITIES)}, got {node['severity']!r}", "severity"
        )
    if "kind" not in node:
        raise node.error("policy is missing required key 'kind'")
    kinds = _str_list(node, "kind", _check_kind)
    if not kinds:
        raise node.error("'kind' must name at least one resource kind", "kind")
    manual = _bool(node, "manual")
    has_condition, has_hook = "condition" in node, "hook" in node
    if manual:
        if has_condition or has_hook:
            raise node.error(
                "a manual policy takes no condition or hook", "condition" if has_condition else "hook"
            )
        if "audit" not in node:
            raise node.error("a manual policy needs 'audit' (how to check it by hand)", "manual")
    elif has_condition == has_hook:
        raise node.error(
            "a policy needs exactly one of 'condition' or 'hook' (or 'manual: true')",
            "hook" if has_hook else None,
        )
    audit = _str(node, "audit", required=manual)
    scope = Scope(_enum(node, "scope", tuple(Scope), Scope.RESOURCE))
    if "match" in node and scope is not Scope.ACCOUNT:
        raise node.error("'match' only applies to 'scope: account'", "match")
    match = MatchMode(_enum(node, "match", tuple(MatchMode), MatchMode.ANY))
    if manual and (scope is not Scope.RESOURCE or "applies_if" in node):
        raise node.error(
            "a manual policy takes no 'scope' or 'applies_if'", "scope" if "scope" in node else "applies_if"
        )
    applies_if = compile_condition(node["applies_if"], node, "applies_if") if "applies_if" in node else None
    condition = compile_condition(node["condition"], node, "condition") if has_condition else None
    hook_name: str | None = None
    hook_args: dict[str, Any] = {}
    if has_hook:
        hook_name = node["hook"]
        if not isinstance(hook_name, str):
            raise node.error("'hook' must be the name of a registered hook", "hook")
        spec = hooks.get_hook(hook_name)
        if spec is None:
            raise node.error(
                f"unknown hook {hook_name!r} (registered: {', '.join(hooks.hook_names())})", "hook"
            )
        raw_args = node.get("hook_args", {})
        if not isinstance(raw_args, dict):
            raise node.error("'hook_args' must be a mapping", "hook_args")
        hook_args = _plain(raw_args)
        problem = validate_args(spec, hook_args)
        if problem:
            raise node.error(problem, "hook_args" if "hook_args" in node else "hook")
    elif "hook_args" in node:
        raise node.error("'hook_args' needs 'hook'", "hook_args")
    evidence = _str_list(node, "evidence", _check_path)
    message = None
    if "message" in node:
        message = compile_message(_str(node, "message"), node, "message")
    paths: list[str] = list(evidence)
    for cond in (applies_if, condition):
        if cond is not None:
            paths.extend(p for p in cond.paths if p not in paths)
    return Policy(
        id=policy_id,
        title=title,
        severity=SEVERITIES[label],
        severity_label=label,
        kinds=kinds,
        description=_str(node, "description"),
        applies_if=applies_if,
        condition=condition,
        hook=hook_name,
        hook_args=hook_args,
        manual=manual,
        audit=audit,
        scope=scope,
        match=match,
        remediation=_remediation(node),
        references=_str_list(node, "references", _check_url),
        compliance=_compliance(node),
        evidence=evidence,
        message=message,
        evidence_paths=tuple(compile_path(p) for p in paths[:_MAX_EVIDENCE_PATHS]),
        source=f"{file}:{node.line}",
    )


def _parse_file(text: str, file: str, errors: list[PolicyError]) -> list[Policy]:
    try:
        doc = load_yaml(text, file)
    except PolicyError as exc:
        errors.append(exc)
        return []
    if doc is None:
        return []
    if isinstance(doc, MarkedMap):
        extra = [k for k in doc if k != "policies"]
        if extra:
            errors.append(doc.error(f"unknown top-level key {extra[0]!r} (expected 'policies')", extra[0]))
            return []
        if "policies" not in doc:
            errors.append(doc.error("a policy file is a list of policies or a mapping with 'policies:'"))
            return []
        items = doc["policies"]
        if items is None:
            return []
        if not isinstance(items, MarkedList):
            errors.append(doc.error("'policies' must be a list", "policies"))
            return []
    elif isinstance(doc, MarkedList):
        items = doc
    else:
        errors.append(
            PolicyError(file, 1, "a policy file is a list of policies or a mapping with 'policies:'")
        )
        return []
    policies: list[Policy] = []
    for i, node in enumerate(items):
        try:
            policies.append(parse_policy(node, items, i, file))
        except PolicyError as exc:
            errors.append(exc)
    return policies


def _check_duplicates(policies: list[Policy], errors: list[PolicyError]) -> list[Policy]:
    seen: dict[str, Policy] = {}
    unique: list[Policy] = []
    for policy in policies:
        first = seen.get(policy.id)
        if first is not None:
            file, _, line = policy.source.rpartition(":")
            errors.append(
                PolicyError(
                    file, int(line), f"duplicate policy id {policy.id!r} (first defined at {first.source})"
                )
            )
            continue
        seen[policy.id] = policy
        unique.append(policy)
    return unique


def parse_policies(text: str, file: str = "<string>") -> list[Policy]:
    """Policies from YAML text; raises :class:`PolicyLoadError` listing every problem."""
    errors: list[PolicyError] = []
    policies = _check_duplicates(_parse_file(text, file, errors), errors)
    if errors:
        raise PolicyLoadError(errors)
    return policies


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            p
            for p in path.rglob("*")
            if p.suffix in (".yaml", ".yml") and p.is_file() and not p.name.startswith(".")
        )
    return [path]


def load_policies(paths: str | Path | Iterable[str | Path]) -> list[Policy]:
    """Load policy files and directories (``*.yaml``/``*.yml``, recursively, sorted by path).

    Raises :class:`PolicyLoadError` with every error of every file (ids must be unique across all
    of them).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    errors: list[PolicyError] = []
    policies: list[Policy] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            errors.append(PolicyError(str(path), 0, "no such file or directory"))
            continue
        for file in _files(path):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                errors.append(PolicyError(str(file), 0, f"cannot read: {exc}"))
                continue
            policies.extend(_parse_file(text, str(file), errors))
    policies = _check_duplicates(policies, errors)
    if errors:
        raise PolicyLoadError(errors)
    return policies


def builtin_policies() -> list[Policy]:
    """The policies shipped in ``yamori/policy/builtin/`` (CIS AWS under ``builtin/aws/``)."""
    if not BUILTIN_DIR.is_dir():
        return []
    return load_policies(BUILTIN_DIR)


def policies_by_id(policies: Iterable[Policy]) -> Mapping[str, Policy]:
    return {p.id: p for p in policies}
