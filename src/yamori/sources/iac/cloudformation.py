"""CloudFormation adapter: YAML (short-form intrinsics) and JSON templates.

Parsing composes YAML nodes with the C parser (``CSafeLoader`` when libyaml is present) and
converts them here, so that (1) every value keeps its line for ``origins`` and (2) short-form
tags (``!Ref``, ``!Sub``...) become their long form without a constructor per tag. JSON is valid
YAML for this purpose, so JSON templates get line numbers the same way (plain ``json`` is the
fallback when the YAML parser refuses a JSON file).

Intrinsics are resolved against parameters (given values, else defaults), pseudo-parameters
(given region/account/stack, else UNKNOWN), Conditions, Mappings; ``Ref``/``Fn::GetAtt`` to
another resource becomes a reference marker (or the bucket's name, when declared); anything
unresolvable is ``UNKNOWN``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, ClassVar, Final

import yaml

from yamori.model.resource import UNKNOWN
from yamori.sources.iac._files import inside, read_text, relative
from yamori.sources.iac.interface import IacAdapter, IacIssue, IacOptions, IacResult, reference
from yamori.sources.iac.mapping_aws import CLOUDFORMATION, Block, build_resources

__all__ = ["ADAPTER", "CloudFormationAdapter"]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SUFFIXES: Final = (".yaml", ".yml", ".json", ".template")
_MAX_NODES: Final = 500_000
_MAX_DEPTH: Final = 100
_MAX_RESOLVE_DEPTH: Final = 64
_NO_VALUE: Final = object()  # AWS::NoValue: the property is removed
# What ``Ref`` returns for a resource, when the template names it: the property that holds it.
_REF_PROPERTY: Final = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::ECR::Repository": "RepositoryName",
}
_TAG_PREFIX: Final = "!"


class _Marked(dict[str, Any]):
    """A mapping with the line of each key (1-based)."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}


class _MarkedList(list[Any]):
    __slots__ = ("item_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


class TemplateError(ValueError):
    """A template that cannot be read; the message is one line."""


def _scalar(node: yaml.ScalarNode) -> Any:
    tag = node.tag
    if tag.startswith(_TAG_PREFIX) or node.style is not None:
        return node.value
    return yaml.safe_load(node.value) if node.value else None


def _convert(node: yaml.Node, budget: list[int], depth: int = 0) -> Any:
    """YAML node → marked Python value; ``!Tag x`` → ``{"Fn::Tag": x}`` (``Ref``/``Condition``)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise TemplateError(f"template has more than {_MAX_NODES} values (aliases?); refused")
    if depth > _MAX_DEPTH:
        raise TemplateError(f"template nests deeper than {_MAX_DEPTH} levels; refused")
    if isinstance(node, yaml.MappingNode):
        out = _Marked(node.start_mark.line + 1)
        for key_node, value_node in node.value:
            key = str(_scalar(key_node)) if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            out[key] = _convert(value_node, budget, depth + 1)
            out.key_lines[key] = key_node.start_mark.line + 1
        value: Any = out
    elif isinstance(node, yaml.SequenceNode):
        items = _MarkedList(node.start_mark.line + 1)
        for child in node.value:
            items.append(_convert(child, budget, depth + 1))
            items.item_lines.append(child.start_mark.line + 1)
        value = items
    else:
        assert isinstance(node, yaml.ScalarNode)
        value = _scalar(node)
        if isinstance(value, (bytes, bytearray)):
            value = value.decode("utf-8", "replace")
        elif not isinstance(value, (str, int, float, bool, type(None))):
            value = node.value  # dates and timestamps stay as written
    tag = node.tag
    if tag.startswith(_TAG_PREFIX):
        name = tag[1:]
        if name == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        long = name if name in ("Ref", "Condition") else f"Fn::{name}"
        wrapped = _Marked(node.start_mark.line + 1)
        wrapped[long] = value
        wrapped.key_lines[long] = node.start_mark.line + 1
        return wrapped
    return value


def parse_template(text: str, is_json: bool) -> Any:
    """A template's marked tree. Raises TemplateError with a one-line reason."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        if is_json:
            try:
                return json.loads(text)
            except json.JSONDecodeError as jexc:
                raise TemplateError(f"invalid JSON: {jexc.msg} (line {jexc.lineno})") from None
        mark = exc.problem_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise TemplateError(f"invalid YAML: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise TemplateError(f"invalid YAML: {str(exc).splitlines()[0]}") from None
    if node is None:
        raise TemplateError("empty template")
    return _convert(node, [_MAX_NODES])


class _Resolver:
    """Evaluates intrinsic functions in one template (cycle-safe, depth-bounded)."""

    def __init__(self, template: dict[str, Any], options: IacOptions, shown: str) -> None:
        self.template = template
        self.options = options
        self.shown = shown
        self.resources: dict[str, Any] = template.get("Resources") or {}
        self.parameters: dict[str, Any] = {}
        for name, spec in (template.get("Parameters") or {}).items():
            if name in options.parameters:
                value = options.parameters[name]
            elif isinstance(spec, dict) and "Default" in spec:
                value = spec["Default"]
            else:
                value = UNKNOWN
            kind = spec.get("Type", "") if isinstance(spec, dict) else ""
            if isinstance(value, str) and (kind == "CommaDelimitedList" or str(kind).startswith("List<")):
                value = [v.strip() for v in value.split(",")]
            self.parameters[name] = value
        self.pseudo: dict[str, Any] = {
            "AWS::Region": options.region or UNKNOWN,
            "AWS::AccountId": options.account or UNKNOWN,
            "AWS::StackName": options.stack_name or UNKNOWN,
            "AWS::Partition": options.partition or UNKNOWN,
            "AWS::StackId": UNKNOWN,
            "AWS::URLSuffix": UNKNOWN,
            "AWS::NotificationARNs": UNKNOWN,
        }
        self.conditions: dict[str, Any] = {}
        self.visiting: set[str] = set()
        self.errors: list[IacIssue] = []
        self.prefix = f"{options.stack_name}/" if options.stack_name else ""

    def _cycle(self, what: str) -> Any:
        line = None
        self.errors.append(
            IacIssue(self.shown, f"circular reference through {what}; treated as unknown", line)
        )
        return UNKNOWN

    def condition(self, name: str) -> Any:
        if name in self.conditions:
            return self.conditions[name]
        key = f"Condition {name}"
        if key in self.visiting:
            return self._cycle(key)
        self.visiting.add(key)
        spec = (self.template.get("Conditions") or {}).get(name, UNKNOWN)
        value = self.resolve(spec) if spec is not UNKNOWN else UNKNOWN
        self.visiting.discard(key)
        self.conditions[name] = value if isinstance(value, bool) else UNKNOWN
        return self.conditions[name]

    def ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            return UNKNOWN
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.resources.get(name)
        if isinstance(resource, dict):
            prop = _REF_PROPERTY.get(str(resource.get("Type")))
            props = resource.get("Properties") or {}
            if prop and isinstance(props, dict) and prop in props:
                key = f"Ref {name}"
                if key in self.visiting:
                    return self._cycle(f"{name}.{prop}")
                self.visiting.add(key)
                value = self.resolve(props[prop])
                self.visiting.discard(key)
                return value
            return reference(self.prefix + name)
        return UNKNOWN

    def resolve(self, value: Any, depth: int = 0) -> Any:
        if depth > _MAX_RESOLVE_DEPTH:
            return UNKNOWN
        if isinstance(value, list):
            items = [self.resolve(v, depth + 1) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = _INTRINSICS.get(key)
            if handler is not None:
                return handler(self, arg, depth + 1)
        out = {}
        for key, child in value.items():
            resolved = self.resolve(child, depth + 1)
            if resolved is not _NO_VALUE:
                out[key] = resolved
        return out

    # --- the functions -------------------------------------------------------------------

    def f_ref(self, arg: Any, depth: int) -> Any:
        return self.ref(self.resolve(arg, depth))

    def f_getatt(self, arg: Any, depth: int) -> Any:
        arg = self.resolve(arg, depth)
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2 or not all(isinstance(a, str) for a in arg):
            return UNKNOWN
        logical, attribute = arg
        resource = self.resources.get(logical)
        if not isinstance(resource, dict):
            return UNKNOWN
        if resource.get("Type") == "AWS::S3::Bucket" and attribute == "Arn":
            name = self.ref(logical)
            if isinstance(name, str) and not name.startswith("<ref:"):
                partition = self.pseudo["AWS::Partition"]
                return f"arn:{partition if isinstance(partition, str) else 'aws'}:s3:::{name}"
        return reference(f"{self.prefix}{logical}.{attribute}")

    def f_sub(self, arg: Any, depth: int) -> Any:
        variables: dict[str, Any] = {}
        template = arg
        if isinstance(arg, list) and len(arg) == 2:
            template = arg[0]
            variables = {k: self.resolve(v, depth) for k, v in (arg[1] or {}).items()}
        template = self.resolve(template, depth)
        if not isinstance(template, str):
            return UNKNOWN
        out: list[str] = []
        rest = template
        while "${" in rest:
            before, _, after = rest.partition("${")
            out.append(before)
            if after.startswith("!"):
                out.append("${")
                rest = after[1:]
                continue
            name, sep, rest = after.partition("}")
            if not sep:
                return UNKNOWN
            if name in variables:
                value = variables[name]
            elif "." in name and name.split(".", 1)[0] in self.resources:
                value = self.f_getatt(name, depth)
            else:
                value = self.ref(name)
            if value is UNKNOWN or value is _NO_VALUE or isinstance(value, (dict, list)):
                return UNKNOWN
            out.append(str(value))
        out.append(rest)
        return "".join(out)

    def f_join(self, arg: Any, depth: int) -> Any:
        arg = self.resolve(arg, depth)
        if not isinstance(arg, list) or len(arg) != 2 or not isinstance(arg[0], str):
            return UNKNOWN
        parts = arg[1]
        if not isinstance(parts, list) or any(p is UNKNOWN or isinstance(p, (dict, list)) for p in parts):
            return UNKNOWN
        return arg[0].join(str(p) for p in parts)

    def f_select(self, arg: Any, depth: int) -> Any:
        arg = self.resolve(arg, depth)
        if not isinstance(arg, list) or len(arg) != 2 or not isinstance(arg[1], list):
            return UNKNOWN
        try:
            return arg[1][int(arg[0])]
        except (ValueError, TypeError, IndexError):
            return UNKNOWN

    def f_split(self, arg: Any, depth: int) -> Any:
        arg = self.resolve(arg, depth)
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], str):
            return arg[1].split(arg[0])
        return UNKNOWN

    def f_findinmap(self, arg: Any, depth: int) -> Any:
        arg = self.resolve(arg, depth)
        if not isinstance(arg, list) or len(arg) < 3 or not all(isinstance(a, str) for a in arg[:3]):
            return UNKNOWN
        try:
            return self.resolve((self.template.get("Mappings") or {})[arg[0]][arg[1]][arg[2]], depth)
        except (KeyError, TypeError):
            return (
                arg[3].get("DefaultValue", UNKNOWN) if len(arg) > 3 and isinstance(arg[3], dict) else UNKNOWN
            )

    def f_if(self, arg: Any, depth: int) -> Any:
        if not isinstance(arg, list) or len(arg) != 3 or not isinstance(arg[0], str):
            return UNKNOWN
        state = self.condition(arg[0])
        if state is True:
            return self.resolve(arg[1], depth)
        if state is False:
            return self.resolve(arg[2], depth)
        left, right = self.resolve(arg[1], depth), self.resolve(arg[2], depth)
        return left if left == right and left is not UNKNOWN else UNKNOWN

    def f_equals(self, arg: Any, depth: int) -> Any:
        arg = self.resolve(arg, depth)
        if not isinstance(arg, list) or len(arg) != 2 or UNKNOWN in arg:
            return UNKNOWN
        return str(arg[0]) == str(arg[1]) if not isinstance(arg[0], (list, dict)) else arg[0] == arg[1]

    def f_and(self, arg: Any, depth: int) -> Any:
        values = [self.resolve(a, depth) for a in arg] if isinstance(arg, list) else [UNKNOWN]
        if any(v is False for v in values):
            return False
        return True if all(v is True for v in values) else UNKNOWN

    def f_or(self, arg: Any, depth: int) -> Any:
        values = [self.resolve(a, depth) for a in arg] if isinstance(arg, list) else [UNKNOWN]
        if any(v is True for v in values):
            return True
        return False if all(v is False for v in values) else UNKNOWN

    def f_not(self, arg: Any, depth: int) -> Any:
        value = self.resolve(arg[0] if isinstance(arg, list) and arg else arg, depth)
        return (not value) if isinstance(value, bool) else UNKNOWN

    def f_condition(self, arg: Any, depth: int) -> Any:
        return self.condition(arg) if isinstance(arg, str) else UNKNOWN

    def f_base64(self, arg: Any, depth: int) -> Any:
        value = self.resolve(arg, depth)
        return base64.b64encode(value.encode()).decode() if isinstance(value, str) else UNKNOWN

    def f_tojson(self, arg: Any, depth: int) -> Any:
        value = self.resolve(arg, depth)
        try:
            return json.dumps(value, separators=(",", ":"))
        except TypeError:
            return UNKNOWN

    def f_length(self, arg: Any, depth: int) -> Any:
        value = self.resolve(arg, depth)
        return len(value) if isinstance(value, list) else UNKNOWN

    def f_unknown(self, arg: Any, depth: int) -> Any:
        return UNKNOWN


_INTRINSICS: Final = {
    "Ref": _Resolver.f_ref,
    "Fn::GetAtt": _Resolver.f_getatt,
    "Fn::Sub": _Resolver.f_sub,
    "Fn::Join": _Resolver.f_join,
    "Fn::Select": _Resolver.f_select,
    "Fn::Split": _Resolver.f_split,
    "Fn::FindInMap": _Resolver.f_findinmap,
    "Fn::If": _Resolver.f_if,
    "Fn::Equals": _Resolver.f_equals,
    "Fn::And": _Resolver.f_and,
    "Fn::Or": _Resolver.f_or,
    "Fn::Not": _Resolver.f_not,
    "Condition": _Resolver.f_condition,
    "Fn::Base64": _Resolver.f_base64,
    "Fn::ToJsonString": _Resolver.f_tojson,
    "Fn::Length": _Resolver.f_length,
    "Fn::GetAZs": _Resolver.f_unknown,
    "Fn::ImportValue": _Resolver.f_unknown,
    "Fn::Cidr": _Resolver.f_unknown,
    "Fn::Transform": _Resolver.f_unknown,
}


def _origins(value: Any, path: str, shown: str, out: dict[str, str]) -> None:
    """Record the line of every property path of a marked tree."""
    if isinstance(value, _Marked):
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else key
            line = value.key_lines.get(key)
            if line and not key.startswith(("Fn::", "Ref")):
                out[child_path] = f"{shown}:{line}"
            if key.startswith(("Fn::", "Ref")):
                _origins(child, path, shown, out)
            else:
                _origins(child, child_path, shown, out)
    elif isinstance(value, _MarkedList):
        for index, child in enumerate(value):
            child_path = f"{path}[{index}]"
            out.setdefault(child_path, f"{shown}:{value.item_lines[index]}")
            _origins(child, child_path, shown, out)


def _cycles(resources: dict[str, Any]) -> list[list[str]]:
    """Dependency cycles among resources (Ref, GetAtt, Sub, DependsOn), which CloudFormation
    refuses to deploy."""
    graph: dict[str, set[str]] = {}

    def refs(value: Any, found: set[str]) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                if key == "Ref" and isinstance(child, str) and child in resources:
                    found.add(child)
                elif key == "Fn::GetAtt":
                    target = child[0] if isinstance(child, list) and child else str(child).split(".", 1)[0]
                    if isinstance(target, str) and target in resources:
                        found.add(target)
                elif key == "Fn::Sub":
                    text = child[0] if isinstance(child, list) and child else child
                    if isinstance(text, str):
                        for name in resources:
                            if "${" + name + "}" in text or "${" + name + "." in text:
                                found.add(name)
                    refs(child, found)
                else:
                    refs(child, found)
        elif isinstance(value, list):
            for child in value:
                refs(child, found)

    for name, body in resources.items():
        found: set[str] = set()
        refs(body.get("Properties") if isinstance(body, dict) else None, found)
        depends = body.get("DependsOn") if isinstance(body, dict) else None
        found.update(d for d in (depends if isinstance(depends, list) else [depends]) if d in resources)
        graph[name] = found
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


class CloudFormationAdapter(IacAdapter):
    """CloudFormation templates (YAML or JSON)."""

    name: ClassVar[str] = "cloudformation"
    source: ClassVar[str] = "cloudformation"

    def claims(self, path: Path) -> bool:
        if not path.is_file() or not path.name.lower().endswith(_SUFFIXES) or path.name.endswith(".tf.json"):
            return False
        try:
            with path.open("rb") as handle:
                head = handle.read(65536)
        except OSError:
            return False
        return b"AWSTemplateFormatVersion" in head or (b"Resources" in head and b"AWS::" in head)

    def inputs(self, root: Path) -> list[Path]:
        from yamori.sources.iac._files import walk_files

        return [
            p for p in walk_files(root) if self.claims(p) or (p.is_symlink() and p.name.endswith(_SUFFIXES))
        ]

    def load(self, path: Path, options: IacOptions | None = None, *, root: Path | None = None) -> IacResult:
        options = options or IacOptions()
        root = root or path.parent
        shown = relative(path, root)
        result = IacResult()
        if not inside(path, root):
            result.errors.append(
                IacIssue(shown, "symlink points outside the scanned directory; not followed")
            )
            return result
        text, issue = read_text(path, root, options.max_file_bytes)
        if issue is not None or text is None:
            result.errors.append(issue or IacIssue(shown, "cannot read"))
            return result
        try:
            template = parse_template(text, path.suffix.lower() == ".json")
        except TemplateError as exc:
            result.errors.append(IacIssue(shown, str(exc)))
            return result
        if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
            result.errors.append(IacIssue(shown, "not a CloudFormation template (no Resources mapping)"))
            return result
        resolver = _Resolver(template, options, shown)
        for cycle in _cycles(template["Resources"]):
            result.errors.append(
                IacIssue(
                    shown,
                    "circular dependency: " + " -> ".join(cycle),
                    _key_line(template["Resources"], cycle[0]),
                )
            )
        blocks: list[Block] = []
        prefix = f"{options.stack_name}/" if options.stack_name else ""
        for logical, body in template["Resources"].items():
            if not isinstance(body, dict) or not isinstance(body.get("Type"), str):
                result.errors.append(
                    IacIssue(
                        shown, f"resource {logical} has no Type", _key_line(template["Resources"], logical)
                    )
                )
                continue
            if isinstance(body.get("Condition"), str) and resolver.condition(body["Condition"]) is False:
                continue  # not created under these parameters
            properties = body.get("Properties") or {}
            values = resolver.resolve(properties) if isinstance(properties, dict) else {}
            origins: dict[str, str] = {}
            _origins(properties, "", shown, origins)
            line = _key_line(template["Resources"], logical)
            blocks.append(
                Block(
                    body["Type"],
                    f"{prefix}{logical}",
                    values if isinstance(values, dict) else {},
                    f"{shown}:{line}" if line else shown,
                    origins,
                    shown,
                )
            )
        seen = {str(e) for e in result.errors}
        result.errors.extend(e for e in resolver.errors if str(e) not in seen and not seen.add(str(e)))  # type: ignore[func-returns-value]
        resources, warnings = build_resources(
            blocks, CLOUDFORMATION, "cloudformation", region=options.region, account=options.account
        )
        result.resources.extend(resources)
        result.warnings.extend(warnings)
        return result


def _key_line(mapping: Any, key: str) -> int | None:
    return mapping.key_lines.get(key) if isinstance(mapping, _Marked) else None


ADAPTER: Final = CloudFormationAdapter()
