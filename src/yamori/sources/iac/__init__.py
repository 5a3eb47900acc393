"""Infrastructure-as-code sources: Terraform and CloudFormation adapters that produce the same
`Resource` kinds and attributes as the live AWS collectors (see docs/iac.md)."""

from yamori.sources.iac.interface import (
    IacAdapter,
    IacIssue,
    IacOptions,
    IacResult,
    is_reference,
    reference,
)
from yamori.sources.iac.registry import adapter, names, scan

__all__ = [
    "IacAdapter",
    "IacIssue",
    "IacOptions",
    "IacResult",
    "adapter",
    "is_reference",
    "names",
    "reference",
    "scan",
]
