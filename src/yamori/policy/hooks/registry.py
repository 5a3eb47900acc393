"""Hook registry: name -> callable, plus the argument schema the loader validates.

Why a registry: a policy names its hook as data (``hook: iam_policy_allows_full_admin``); the
loader rejects unknown names and bad ``hook_args`` at load time, with file:line, instead of a
failure in the middle of a scan. Adding a hook is one module that calls :func:`register_hook`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from yamori.policy.interface import Hook

__all__ = ["HookSpec", "get_hook", "hook_names", "register_hook", "unregister_hook"]


@dataclass(frozen=True, slots=True)
class HookSpec:
    name: str
    func: Hook
    params: Mapping[str, type | tuple[type, ...]] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    doc: str = ""


_HOOKS: dict[str, HookSpec] = {}


def register_hook(
    name: str,
    *,
    params: Mapping[str, type | tuple[type, ...]] | None = None,
    required: Iterable[str] = (),
) -> Callable[[Hook], Hook]:
    """Decorator: register a hook under ``name``.

    ``params`` maps each accepted ``hook_args`` key to its type(s); keys outside it, missing
    ``required`` keys and wrong types are load errors.
    """

    def decorate(func: Hook) -> Hook:
        if name in _HOOKS and _HOOKS[name].func is not func:
            raise ValueError(f"hook {name!r} is already registered")
        spec = HookSpec(name, func, dict(params or {}), frozenset(required), (func.__doc__ or "").strip())
        unknown = spec.required - set(spec.params)
        if unknown:
            raise ValueError(f"hook {name!r}: required args {sorted(unknown)} are not in params")
        _HOOKS[name] = spec
        return func

    return decorate


def unregister_hook(name: str) -> None:
    """Remove a hook (tests register temporary ones)."""
    _HOOKS.pop(name, None)


def get_hook(name: str) -> HookSpec | None:
    return _HOOKS.get(name)


def hook_names() -> list[str]:
    return sorted(_HOOKS)


def validate_args(spec: HookSpec, args: Mapping[str, Any]) -> str | None:
    """An error message for bad ``hook_args``, or None."""
    for key, value in args.items():
        if key not in spec.params:
            accepted = ", ".join(sorted(spec.params)) or "none"
            return f"hook {spec.name!r} has no argument {key!r} (accepted: {accepted})"
        expected = spec.params[key]
        if (
            isinstance(value, bool)
            and expected is not bool
            and bool not in (expected if isinstance(expected, tuple) else (expected,))
        ):
            return f"hook {spec.name!r} argument {key!r} has the wrong type"
        if not isinstance(value, expected):
            return f"hook {spec.name!r} argument {key!r} has the wrong type"
    missing = sorted(spec.required - set(args))
    if missing:
        return f"hook {spec.name!r} needs argument(s) {', '.join(missing)}"
    return None
