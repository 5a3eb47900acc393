"""Typer's value coercion without pydantic for the values that need no validation.

Recent typer releases coerce every command-line value through a pydantic `TypeAdapter`, built
on first use: the first one imports pydantic, which costs more start-up time than the rest of
`yamori version` together, and typer builds adapters even for options left unset (to return
their `None`) and for the help flag. yamori's options are plain str, bool, int and Path, and for
those the answer is known without validating anything when the value already has the right
type: a str stays the str, an in-range int the int, a str path becomes `Path(value)` (exactly
what pydantic returns for any string) and then still goes through typer's own path checks.

Everything else — an out-of-range number, a type that does not match, any other annotation —
goes to the coercion typer would have used, built on first need, so its results and error
messages are typer's own. This leans on typer internals (`typer._coercion`); with a typer that
does not have them, the classes below are plain `TyperGroup` / `TyperCommand`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.core import TyperCommand, TyperGroup

try:
    from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
    from typer._param_types import coerce_cli_path
except ImportError:  # a typer without pydantic-based coercion: nothing to speed up
    RuntimeParam = None  # type: ignore[assignment,misc]

_QUICK_TYPES = (str, bool, int, Path)


def _is_plain(value: Any, kind: type) -> bool:
    """`value` is exactly of type `kind` (not a subclass: bool is an int, a str enum a str)."""
    return type(value) is kind


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _QuickRuntimeParam(RuntimeParam):
        """Answers the trivial cases itself and hands everything else to typer's coercion.

        `RuntimeParam.coerce` (typer's) has already returned `None` for unset values, so only a
        real value reaches `_coerce_value`.
        """

        descriptor: TypeDescriptor

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            info = self.parameter_info
            kind = self.annotation
            if kind is str and _is_plain(value, str):
                return value
            if kind is bool and _is_plain(value, bool):
                return value
            if kind is int and not info.clamp:
                number = value if _is_plain(value, int) else _ascii_int(value)
                if number is not None and _in_range(number, info.min, info.max):
                    return number
            if kind is Path and info.path_type is None and _is_plain(value, str):
                return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
            full = build_runtime_param(self.descriptor)
            param._runtime_param = full  # later values go straight to typer's coercion
            return full.coerce(value, param=param, ctx=ctx)


def _ascii_int(value: Any) -> int | None:
    """Short plain decimal digits: the only strings whose int value needs no parser's judgement."""
    if _is_plain(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def _in_range(number: int, low: float | None, high: float | None) -> bool:
    return (low is None or number >= low) and (high is None or number <= high)


def _install(params: list[Any]) -> None:
    """Give each simple, not yet coerced parameter the quick path (no-op on other typers)."""
    if RuntimeParam is None:
        return
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", True) is not None:
            continue
        if (
            descriptor.annotation not in _QUICK_TYPES
            or descriptor.file_annotation is not None
            or param.multiple
            or param.nargs != 1
        ):
            continue
        param._runtime_param = _QuickRuntimeParam(
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation,
            descriptor=descriptor,
        )


class QuickGroup(TyperGroup):
    """A `TyperGroup` whose options (the help flag) coerce without pydantic when they can."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        _install(params)
        return params


class QuickCommand(TyperCommand):
    """A `TyperCommand` whose str/bool/int/Path parameters coerce without pydantic when they can."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        _install(params)
        return params
