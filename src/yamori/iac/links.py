"""From cloud to code: join live AWS resources to the Terraform or CloudFormation that declares them.

A finding from ``yamori cloud aws`` names an ARN; the person who has to fix it needs the line of
code. Two sources know the mapping:

- **Terraform state** (format 4) holds, per address, the real ids and ARNs AWS assigned. The
  Terraform adapter already maps a state entry to the live collector's shape (``GroupId``,
  ``Arn``, ``KeyId``...), so the join compares the *same attribute names* on both sides
  (:data:`IDENTITY`). With a code directory, the address is then looked up in the adapter's output
  of the ``.tf`` files for its ``file:line``; state alone gives the address only.
  Code without state still links what code names literally and AWS names the same way
  everywhere (an S3 bucket name, an IAM user or role name).
- **CloudFormation** tags every resource it creates with ``aws:cloudformation:stack-name`` and
  ``aws:cloudformation:logical-id``; a template given with ``--code`` adds the logical id's line.

:func:`load_code` reads the inputs once (strictly: a state of another format or not JSON is a
:class:`LinkError`, one line), :meth:`CodeIndex.link` answers per live resource, and
:func:`link_findings` is the hook ``yamori cloud aws --code`` calls. ``yamori iac drift``
(``yamori.iac.drift``) reuses the same index. Only click and the standard library are imported
at module level: ``yamori.cli.cloud`` imports :data:`code_option` when the CLI starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

if TYPE_CHECKING:
    from yamori.model.resource import Resource
    from yamori.posture.result import PostureResult

__all__ = [
    "CFN_LOGICAL_TAG",
    "CFN_STACK_TAG",
    "IDENTITY",
    "CodeIndex",
    "CodeLink",
    "Declared",
    "LinkError",
    "code_option",
    "identity_keys",
    "link_findings",
    "load_code",
    "read_state",
    "split_location",
]

STATE_FORMAT: Final = 4
CFN_STACK_TAG: Final = "aws:cloudformation:stack-name"
CFN_LOGICAL_TAG: Final = "aws:cloudformation:logical-id"

# Per kind, the attributes that identify one object, in the live collector's names (which the
# IaC adapters produce too). Ids and ARNs come from state; names are literal in code. Names are
# listed only where AWS makes them unique in the account (buckets globally, IAM per account):
# a regional name (a log group, a DB identifier) could match the same name in another region.
IDENTITY: Final[dict[str, tuple[str, ...]]] = {
    "aws.s3.bucket": ("Name",),
    "aws.ec2.security_group": ("GroupId", "SecurityGroupArn"),
    "aws.ec2.network_acl": ("NetworkAclId",),
    "aws.ec2.vpc": ("VpcId",),
    "aws.ec2.instance": ("InstanceId",),
    "aws.ec2.volume": ("VolumeId",),
    "aws.efs.file_system": ("FileSystemId", "FileSystemArn"),
    "aws.kms.key": ("KeyId", "Arn"),
    "aws.cloudtrail.trail": ("TrailARN",),
    "aws.iam.user": ("Arn", "UserName"),
    "aws.iam.role": ("Arn", "RoleName"),
    "aws.iam.policy": ("Arn",),
    "aws.ecr.repository": ("repositoryArn",),
    "aws.sns.topic": ("TopicArn",),
    "aws.cloudwatch.alarm": ("AlarmArn",),
    "aws.logs.log_group": ("arn",),
    "aws.eks.cluster": ("arn",),
    "aws.rds.db_instance": ("DBInstanceArn",),
}

_STATE_SUFFIXES: Final = (".tfstate", ".tfstate.backup")


class LinkError(ValueError):
    """An input of ``--code``/``--state`` cannot be used; the message is one line."""


@dataclass(frozen=True, slots=True)
class CodeLink:
    """Where a live resource is declared.

    Terraform: ``address`` plus ``file``/``line`` of the block when the code was given, and
    ``state`` (``terraform.tfstate:42``) when the join came from state. CloudFormation:
    ``stack`` and ``address`` (the logical id), plus the template's ``file``/``line`` when given.
    """

    source: str  # terraform | cloudformation
    address: str
    file: str = ""
    line: int | None = None
    stack: str = ""
    state: str = ""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"source": self.source, "address": self.address, "file": self.file}
        doc["line"] = self.line
        if self.source == "cloudformation":
            doc["stack"] = self.stack
            doc["logical_id"] = self.address
        if self.state:
            doc["state"] = self.state
        return doc

    def label(self) -> str:
        """``main.tf:12 (aws_s3_bucket.logs)``; without code, the address and where it came from."""
        what = f"stack {self.stack}, {self.address}" if self.stack else self.address
        if self.file:
            where = f"{self.file}:{self.line}" if self.line else self.file
            return f"{where} ({what})"
        if self.state:
            return f"{what} (state {self.state}; pass the code directory for file:line)"
        return what


@dataclass(slots=True)
class Declared:
    """One declared object: its resource in the live shape, how it links, and for state entries
    the block type and raw values (drift compares them against an empty block of that type)."""

    resource: Resource
    link: CodeLink
    block_type: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    from_state: bool = False
    code: Resource | None = None  # the resource read from the .tf files (origins per attribute)


def _text(value: Any) -> str | None:
    from yamori.model.resource import UNKNOWN
    from yamori.sources.iac import is_reference

    if value is UNKNOWN or not isinstance(value, str) or not value or is_reference(value):
        return None
    return value


def identity_keys(resource: Resource) -> list[tuple[str, str]]:
    """``(kind, value)`` keys naming ``resource``: its identity attributes, and for live
    resources their id (the ARN)."""
    keys: list[tuple[str, str]] = []
    for name in IDENTITY.get(resource.kind, ()):
        value = _text(resource.attributes.get(name))
        if value is not None:
            keys.append((resource.kind, value))
    if resource.source == "aws":
        keys.append((resource.kind, resource.id))
    return keys


@dataclass(slots=True)
class CodeIndex:
    """Declared objects from state, code and templates, indexed by identity key."""

    declared: list[Declared] = field(default_factory=list)
    templates: dict[str, list[tuple[str, Resource]]] = field(default_factory=dict)  # logical id → (file, r)
    warnings: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    _keys: dict[tuple[str, str], list[Declared]] | None = field(default=None, repr=False)

    def _index(self) -> dict[tuple[str, str], list[Declared]]:
        if self._keys is None:
            self._keys = {}
            for item in self.declared:
                for key in identity_keys(item.resource):
                    bucket = self._keys.setdefault(key, [])
                    if item not in bucket:
                        bucket.append(item)
        return self._keys

    def match(self, live: Resource) -> Declared | None:
        """The one declared object sharing an identity key with ``live`` (None when none, or
        when a key is ambiguous: two entries claiming one bucket name link to neither)."""
        index = self._index()
        for key in identity_keys(live):
            candidates = index.get(key, [])
            if len(candidates) == 1:
                return candidates[0]
        return None

    def link(self, live: Resource) -> CodeLink | None:
        """Terraform first (state ids, then literal names), then CloudFormation's tags."""
        found = self.match(live)
        if found is not None:
            return found.link
        stack, logical = live.tags.get(CFN_STACK_TAG), live.tags.get(CFN_LOGICAL_TAG)
        if not stack or not logical:
            return None
        candidates = self.templates.get(logical, [])
        named = [c for c in candidates if Path(c[0]).stem == stack]
        pool = named or candidates  # several templates declare the logical id: the stack's own
        chosen = pool[0] if len(pool) == 1 else None
        if chosen is None:
            return CodeLink("cloudformation", logical, stack=stack)
        file, line = split_location(chosen[1].location)
        return CodeLink("cloudformation", logical, file or chosen[0], line, stack=stack)


def split_location(location: str) -> tuple[str, int | None]:
    head, _, tail = location.rpartition(":")
    if head and tail.isdigit():
        return head, int(tail)
    return location, None


# --- reading inputs ---------------------------------------------------------------------------


def _is_state_file(path: Path) -> bool:
    if path.name.endswith(_STATE_SUFFIXES):
        return True
    if path.suffix != ".json" or path.name.endswith(".tf.json"):
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b'"terraform_version"' in head and b'"resources"' in head


def read_state(path: Path, shown: str | None = None) -> list[Declared]:
    """Every managed resource of a Terraform state (format 4) in the live shape, with its
    address and the state's ``file:line``. Strict, unlike the scanning adapter: a state of
    another format would join on the wrong ids, so it is an error, not a warning."""
    from yamori.sources.iac.mapping_aws import TERRAFORM, Block, build_resources

    shown = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LinkError(f"{shown}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise LinkError(f"{shown}: not a Terraform state file: invalid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("resources"), list):
        raise LinkError(f"{shown}: not a Terraform state file (no top-level resources list)")
    if doc.get("version") != STATE_FORMAT:
        raise LinkError(
            f"{shown}: Terraform state format {doc.get('version')!r} is not supported "
            f"(expected {STATE_FORMAT}; run `terraform state pull` with Terraform >= 0.12)"
        )
    raw: dict[str, tuple[str, dict[str, Any], str]] = {}
    blocks: list[Block] = []
    for address, block_type, values, name in _state_entries(doc["resources"]):
        line = _state_line(text, block_type, name)
        location = f"{shown}:{line}" if line else shown
        raw[address] = (block_type, values, location)
        blocks.append(Block(block_type, address, values, location, {}, shown))
    resources, _warnings = build_resources(blocks, TERRAFORM, "terraform")
    declared = []
    for resource in resources:
        block_type, values, location = raw.get(resource.id, ("", {}, shown))
        link = CodeLink("terraform", resource.id, state=location)
        declared.append(Declared(resource, link, block_type, values, from_state=True))
    return declared


def _state_entries(resources: list[Any]) -> Iterable[tuple[str, str, dict[str, Any], str]]:
    """(address, type, attributes, name) per instance of every managed resource."""
    for res in resources:
        if not isinstance(res, dict) or res.get("mode", "managed") != "managed":
            continue
        kind, name = str(res.get("type", "")), str(res.get("name", ""))
        base = f"{res['module']}.{kind}.{name}" if res.get("module") else f"{kind}.{name}"
        for instance in res.get("instances") or []:
            if not isinstance(instance, dict):
                continue
            key = instance.get("index_key")
            suffix = "" if key is None else (f"[{key}]" if isinstance(key, int) else f'["{key}"]')
            attributes = instance.get("attributes")
            yield base + suffix, kind, dict(attributes) if isinstance(attributes, dict) else {}, name


def _state_line(text: str, block_type: str, name: str) -> int | None:
    pattern = rf'"type"\s*:\s*"{re.escape(block_type)}"\s*,\s*"name"\s*:\s*"{re.escape(name)}"'
    match = re.search(pattern, text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _code_resources(directory: Path, index: CodeIndex) -> dict[str, list[tuple[Path, Resource]]]:
    """Terraform resources of every root module under ``directory`` by address, and
    CloudFormation templates into ``index.templates``; files are shown relative to ``directory``."""
    from yamori.sources.iac import IacOptions, adapter

    by_address: dict[str, list[tuple[Path, Resource]]] = {}
    terraform = adapter("terraform")
    for unit in terraform.inputs(directory):
        if not unit.is_dir():
            continue
        result = terraform.load(unit, IacOptions(), root=directory)
        index.warnings.extend(str(issue) for issue in result.errors)
        for resource in result.resources:
            by_address.setdefault(resource.id, []).append((unit, resource))
    cloudformation = adapter("cloudformation")
    for template in cloudformation.inputs(directory):
        _add_template(template, directory, index)
    return by_address


def _add_template(template: Path, root: Path, index: CodeIndex) -> None:
    from yamori.sources.iac import IacOptions, adapter

    result = adapter("cloudformation").load(template, IacOptions(), root=root)
    index.warnings.extend(str(issue) for issue in result.errors)
    shown = template.relative_to(root).as_posix() if template.is_relative_to(root) else str(template)
    for resource in result.resources:
        index.templates.setdefault(resource.id.rsplit("/", 1)[-1], []).append((shown, resource))


def load_code(
    paths: Sequence[Path], states: Sequence[Path] = (), *, discover_states: bool = True
) -> CodeIndex:
    """Read ``--code`` inputs (directories, state files, templates) and ``--state`` files.

    A directory contributes its Terraform root modules (for file:line), the state files in it
    (``*.tfstate``, outside ``.terraform``) and its CloudFormation templates. State entries are
    then given the ``file:line`` of the same address in the code — from the root module that
    holds the state file when several declare it. Code resources no state knows are added too,
    linkable by the literal names in :data:`IDENTITY`. ``discover_states=False``: only the
    ``states`` given are read (drift compares exactly the state the user named).
    """
    from yamori.sources.iac import adapter

    index = CodeIndex()
    code: dict[str, list[tuple[Path, Resource]]] = {}
    state_files: list[tuple[Path, str]] = [(p, str(p)) for p in states]
    for path in paths:
        if not path.exists():
            raise LinkError(f"{path}: no such file or directory")
        if path.is_dir():
            for address, found in _code_resources(path, index).items():
                code.setdefault(address, []).extend(found)
            for unit in adapter("terraform").inputs(path) if discover_states else []:
                if unit.is_file() and _is_state_file(unit):
                    state_files.append((unit, unit.relative_to(path).as_posix()))
        elif _is_state_file(path):
            state_files.append((path, str(path)))
        elif adapter("cloudformation").claims(path):
            _add_template(path, path.parent, index)
        else:
            raise LinkError(f"{path}: not a Terraform state, a code directory or a CloudFormation template")
    seen: set[str] = set()
    for state, shown in state_files:
        if str(state.resolve()) in seen:
            continue
        seen.add(str(state.resolve()))
        index.states.append(shown)
        for item in read_state(state, shown):
            chosen = _pick(code.get(item.resource.id, []), state.parent)
            if chosen is not None:
                item.code = chosen
                file, line = split_location(chosen.location)
                item.link = CodeLink("terraform", item.link.address, file, line, state=item.link.state)
            index.declared.append(item)
    stated = {d.resource.id for d in index.declared}
    for address, found in code.items():
        if address in stated:
            continue
        for _unit, resource in found:
            file, line = split_location(resource.location)
            index.declared.append(
                Declared(resource, CodeLink("terraform", address, file, line), code=resource)
            )
    return index


def _pick(found: list[tuple[Path, Resource]], state_dir: Path) -> Resource | None:
    """The code resource of an address: the one in the state's own directory, else the only one."""
    if not found:
        return None
    own = [r for unit, r in found if unit.resolve() == state_dir.resolve()]
    if own:
        return own[0]
    return found[0][1] if len({str(u) for u, _ in found}) == 1 else None


# --- the `yamori cloud aws --code` hook -------------------------------------------------------


def _load_option(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> CodeIndex | None:
    """Read ``--code`` while the options are parsed, so a typo fails before any AWS call."""
    if not value:
        return None
    try:
        index = load_code([Path(v) for v in value])
    except LinkError as exc:
        click.echo(f"yamori: error: {exc}", err=True)
        raise click.exceptions.Exit(2) from None
    for warning in index.warnings:
        click.echo(f"yamori: warning: {warning}", err=True)
    if not index.declared and not index.templates:
        click.echo(
            f"yamori: warning: --code {', '.join(value)}: nothing declared to link findings to", err=True
        )
    return index


def code_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--code DIR|STATE`` option (repeatable); its value is a :class:`CodeIndex` or None."""
    return click.option(
        "--code",
        "code",
        multiple=True,
        metavar="DIR|STATE",
        callback=_load_option,
        help=(
            "Terraform code dir, state file or CloudFormation template (repeatable): "
            "findings name the declaring file:line."
        ),
    )(command)


def link_findings(result: PostureResult, index: CodeIndex | None) -> int:
    """Add ``evidence.code`` (``{source, address, file, line, ...}``) and ``evidence.fix_in``
    (``main.tf:12 (aws_s3_bucket.logs)``) to every finding whose resource is declared; returns
    how many were linked.

    The text also goes on a ``fix in:`` line of the remediation: the posture table prints the
    remediation under each FAIL/ERROR row and nothing else of the evidence.
    """
    if index is None:
        return 0
    linked = 0
    cache: dict[str, CodeLink | None] = {}
    for finding in result.findings:
        if finding.resource not in cache:
            live = result.resource(finding.resource)
            cache[finding.resource] = index.link(live) if live is not None else None
        link = cache[finding.resource]
        if link is None:
            continue
        linked += 1
        finding.evidence["code"] = link.to_json()
        finding.evidence["fix_in"] = link.label()
        line = f"fix in: {link.label()}"
        if line not in finding.remediation:
            finding.remediation = f"{finding.remediation}\n{line}" if finding.remediation else line
    return linked
