"""The contract of an infrastructure-as-code adapter.

An adapter turns files it recognises into :class:`~yamori.model.resource.Resource` objects of the
same kinds and attribute shapes the live collectors produce (``docs/aws-resources.md``), so one
policy evaluates the declared and the deployed object alike. Why a separate contract from image
sources: IaC input is a tree of text files, read once, never executed, and a bad file must cost
only that file (``IacResult.errors``), never the rest of the scan.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final

from yamori.model.resource import Resource

__all__ = [
    "MAX_FILE_BYTES",
    "REF_PREFIX",
    "IacAdapter",
    "IacIssue",
    "IacOptions",
    "IacResult",
    "is_reference",
    "reference",
]

MAX_FILE_BYTES: Final = 10 * 1024 * 1024
"""Files larger than this are refused (one error each): IaC files are small; a huge one is a
mistake or an attack on the parser's memory."""

REF_PREFIX: Final = "<ref:"


def reference(target: str) -> str:
    """A marker for a value that is another declared resource's (unknowable) identifier.

    Why not ``UNKNOWN``: "the trail's ``KmsKeyId`` is the key declared in ``aws_kms_key.trail``"
    is a known fact for a policy that asks whether a key is set at all; only its ARN is unknown.
    The marker is a plain non-empty string (``<ref:aws_kms_key.trail>``) so it serialises as-is.
    """
    return f"{REF_PREFIX}{target}>"


def is_reference(value: Any) -> bool:
    """True for a value made by :func:`reference`."""
    return isinstance(value, str) and value.startswith(REF_PREFIX) and value.endswith(">")


@dataclass(frozen=True, slots=True)
class IacIssue:
    """One problem with one file: printed as a single ``file[:line]: message`` line."""

    file: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(slots=True)
class IacResult:
    """What an adapter produced: resources, per-file errors, and warnings (partial coverage)."""

    resources: list[Resource] = field(default_factory=list)
    errors: list[IacIssue] = field(default_factory=list)
    warnings: list[IacIssue] = field(default_factory=list)

    def extend(self, other: IacResult) -> None:
        self.resources.extend(other.resources)
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)


@dataclass(slots=True)
class IacOptions:
    """Inputs a template cannot carry itself (what ``terraform -var-file`` or a stack deploy adds).

    ``var_files``: Terraform ``-var-file`` paths, applied after ``terraform.tfvars`` and
    ``*.auto.tfvars``. ``parameters``: CloudFormation parameter values. ``region``, ``account``,
    ``stack_name``, ``partition``: pseudo-parameters (unknown when not given).
    """

    var_files: list[Path] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    region: str = ""
    account: str = ""
    stack_name: str = ""
    partition: str = ""
    max_file_bytes: int = MAX_FILE_BYTES
    tfparse_timeout: float = 120.0


class IacAdapter(ABC):
    """One IaC dialect. ``claims`` selects inputs cheaply; ``load`` parses and maps them."""

    name: ClassVar[str]
    source: ClassVar[str]  # Resource.source of what it produces

    @abstractmethod
    def claims(self, path: Path) -> bool:
        """True when ``path`` (a file, or for Terraform a directory) is this adapter's input."""

    def inputs(self, root: Path) -> list[Path]:
        """The units to load under a directory (default: every file this adapter claims)."""
        from yamori.sources.iac._files import walk_files

        return [p for p in walk_files(root) if self.claims(p)]

    @abstractmethod
    def load(self, path: Path, options: IacOptions | None = None, *, root: Path | None = None) -> IacResult:
        """Parse ``path`` into resources. ``root`` bounds what may be read (symlinks, modules):
        nothing outside it is opened. Never raises for bad input: errors go to the result."""
