"""Kubernetes adapter: YAML/JSON manifests, ``List`` kinds, Helm charts and kustomize overlays.

Every document becomes one ``Resource`` of kind ``k8s.<lowercase kind>`` (``k8s.deployment``,
``k8s.clusterrole``) whose attributes are **the manifest as written**, so a policy reads the
same paths a ``kubectl get -o yaml`` shows (``spec.template.spec.containers[*].image``). Workload
kinds also get normalised attributes (:func:`workload_view`) so pod-level policies are written
once instead of once per place a pod spec can live:

- ``podSpec``: the pod spec wherever the kind keeps it (``spec`` for a Pod,
  ``spec.jobTemplate.spec.template.spec`` for a CronJob...); ``podMetadata``: its metadata.
- ``podContainers``: containers, initContainers and ephemeralContainers in one list; each entry
  is the container as written plus ``containerType``, ``imageRef`` ({name, tag, digest}) and
  ``effective`` (the security settings the kubelet applies: container value, else pod value —
  the Pod Security Standards' "container may be unset if the pod sets it" rules need it).
- ``podAppArmorAnnotations``: the values of the legacy per-container AppArmor annotations.

Why the YAML is composed (nodes) rather than loaded: every value keeps its line for
``origins`` (``deploy.yaml:17``). Helm charts (``helm template``) and kustomize overlays
(``kubectl kustomize``) are rendered by those tools when installed — both only render, neither
contacts a cluster — after checking that nothing they would read leaves the scanned directory
(symlinks, ``../`` bases) and that no remote base would be fetched. Without the tool, a one-line
warning names the chart or overlay.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Final

import yaml

from yamori.model.resource import Resource
from yamori.sources.iac._files import inside, read_text, relative, walk_files
from yamori.sources.iac.dockerfile import parse_image_ref
from yamori.sources.iac.interface import IacAdapter, IacIssue, IacOptions, IacResult

__all__ = [
    "ADAPTER",
    "CLUSTER_SCOPED",
    "POD_SPEC_PATHS",
    "KubernetesAdapter",
    "ManifestError",
    "parse_manifests",
    "resource_id",
    "workload_view",
]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SUFFIXES: Final = (".yaml", ".yml", ".json")
_MAX_NODES: Final = 500_000
_MAX_DEPTH: Final = 100
_TOOL_TIMEOUT: Final = 120.0
_REDACTED: Final = "<redacted>"
_KUSTOMIZATION_NAMES: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_CHART_FILE: Final = "Chart.yaml"
# Top-level keys only (column 0 in YAML; any indentation in JSON): a manifest states both, while
# other YAML (CI files, audit events, test vectors) may mention them nested.
_HEAD_API = re.compile(rb"""(?m)^apiVersion\s*:|"apiVersion"\s*:""")
_HEAD_KIND = re.compile(rb"""(?m)^kind\s*:|"kind"\s*:""")
_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@|github\.com/|gitlab\.com/|bitbucket\.org/)|\?ref=")

POD_SPEC_PATHS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    # kind -> (path of the pod spec, path of the pod metadata)
    "Pod": (("spec",), ("metadata",)),
    "PodTemplate": (("template", "spec"), ("template", "metadata")),
    "Deployment": (("spec", "template", "spec"), ("spec", "template", "metadata")),
    "StatefulSet": (("spec", "template", "spec"), ("spec", "template", "metadata")),
    "DaemonSet": (("spec", "template", "spec"), ("spec", "template", "metadata")),
    "ReplicaSet": (("spec", "template", "spec"), ("spec", "template", "metadata")),
    "ReplicationController": (("spec", "template", "spec"), ("spec", "template", "metadata")),
    "Job": (("spec", "template", "spec"), ("spec", "template", "metadata")),
    "CronJob": (
        ("spec", "jobTemplate", "spec", "template", "spec"),
        ("spec", "jobTemplate", "spec", "template", "metadata"),
    ),
}
"""Where each workload kind keeps its pod spec: the one table pod policies depend on."""

CLUSTER_SCOPED: Final = frozenset(
    {
        "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
        "CustomResourceDefinition", "StorageClass", "PriorityClass", "IngressClass", "RuntimeClass",
        "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService",
        "PodSecurityPolicy", "CSIDriver", "CSINode", "VolumeAttachment", "CertificateSigningRequest",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "FlowSchema",
        "PriorityLevelConfiguration", "ComponentStatus",
    }
)  # fmt: skip
"""Kinds without a namespace: their id is ``Kind/name``."""

_CONTAINER_LISTS: Final = (
    ("containers", "container"),
    ("initContainers", "initContainer"),
    ("ephemeralContainers", "ephemeralContainer"),
)
_APPARMOR_PREFIX: Final = "container.apparmor.security.beta.kubernetes.io/"
_APPARMOR_ANNOTATION_TYPES: Final = {"runtime/default": "RuntimeDefault", "unconfined": "Unconfined"}
# Fields a container inherits from the pod-level securityContext when it leaves them unset.
_INHERITED: Final = ("runAsNonRoot", "runAsUser", "runAsGroup")


class ManifestError(ValueError):
    """A manifest file that cannot be read; the message is one line."""


# --- YAML with lines -----------------------------------------------------------------------------


def _step(key: str) -> str:
    """One path step in the policy path syntax (``.key`` or ``['key.with.dots']``)."""
    if _PLAIN_KEY.fullmatch(key):
        return f".{key}"
    quote = '"' if "'" in key else "'"
    return f"[{quote}{key}{quote}]"


def _join(path: str, key: str) -> str:
    step = _step(key)
    return step[1:] if not path and step.startswith(".") else f"{path}{step}"


class _Converter:
    """YAML nodes → plain values, recording the line of every path (bounded: alias bombs)."""

    def __init__(self, origins: dict[str, int]) -> None:
        self.budget = _MAX_NODES
        self.origins = origins
        self.scalars = yaml.constructor.SafeConstructor()

    def convert(self, node: yaml.Node, path: str, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise ManifestError(f"manifest has more than {_MAX_NODES} values (aliases?); refused")
        if depth > _MAX_DEPTH:
            raise ManifestError(f"manifest nests deeper than {_MAX_DEPTH} levels; refused")
        if path:
            self.origins.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self._key(key_node)
                if key == "<<":  # merge key: fold the mapping(s) in without overriding
                    merged = self.convert(value_node, path, depth + 1)
                    for item in merged if isinstance(merged, list) else [merged]:
                        if isinstance(item, dict):
                            for k, v in item.items():
                                out.setdefault(k, v)
                    continue
                child = _join(path, key)
                self.origins[child] = key_node.start_mark.line + 1
                out[key] = self.convert(value_node, child, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(child, f"{path}[{i}]", depth + 1) for i, child in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        try:
            value = self.scalars.construct_object(node)
        except yaml.YAMLError:
            return node.value
        if isinstance(value, (bytes, bytearray)):
            return value.decode("utf-8", "replace")
        if not isinstance(value, (str, int, float, bool, type(None))):
            return node.value  # timestamps stay as written
        return value

    def _key(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            value = self.convert(node, "", 0)
            return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        raise ManifestError(f"line {node.start_mark.line + 1}: a mapping key must be a scalar")


def parse_manifests(text: str, is_json: bool = False) -> Iterator[tuple[Any, dict[str, int], int]]:
    """Each document as (value, path → line, line of the document), in file order.

    Raises :class:`ManifestError` (one line) at the first unreadable document; the documents
    before it have been yielded already, so a caller keeps them.
    """
    try:
        for node in yaml.compose_all(text, Loader=_Loader):
            if node is None:
                continue
            origins: dict[str, int] = {}
            value = _Converter(origins).convert(node, "", 0)
            yield value, origins, node.start_mark.line + 1
    except yaml.MarkedYAMLError as exc:
        if is_json:
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as jexc:
                raise ManifestError(f"invalid JSON: {jexc.msg} (line {jexc.lineno})") from None
            yield doc, {}, 1
            return
        mark = exc.problem_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ManifestError(f"invalid YAML: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"invalid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise ManifestError(f"manifest nests deeper than {_MAX_DEPTH} levels; refused") from None


# --- documents → resources -----------------------------------------------------------------------


def _get(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _effective(container: dict[str, Any], pod_sc: dict[str, Any], apparmor: str | None) -> dict[str, Any]:
    """The security settings the container runs with: its own, else the pod's (only when set)."""
    own = _dict(container.get("securityContext"))
    out: dict[str, Any] = {}
    for key in _INHERITED:
        if key in own and own[key] is not None:
            out[key] = own[key]
        elif key in pod_sc and pod_sc[key] is not None:
            out[key] = pod_sc[key]
    for field, key in (("seccompProfile", "seccompProfileType"), ("appArmorProfile", "appArmorProfileType")):
        value = _dict(own.get(field)).get("type")
        if value is None and field == "appArmorProfile" and apparmor is not None:
            value = _APPARMOR_ANNOTATION_TYPES.get(
                apparmor, "Localhost" if apparmor.startswith("localhost/") else apparmor
            )
        if value is None:
            value = _dict(pod_sc.get(field)).get("type")
        if value is not None:
            out[key] = value
    return out


def workload_view(kind: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """The normalised attributes of a workload (``{}`` for other kinds, or no pod spec).

    Public so that a live-cluster collector adds the same attributes to the same kinds, and
    every pod policy evaluates manifests and running objects alike.
    """
    paths = POD_SPEC_PATHS.get(kind)
    if paths is None:
        return {}
    spec = _get(manifest, paths[0])
    if not isinstance(spec, dict):
        return {}
    meta = _dict(_get(manifest, paths[1]))
    annotations = _dict(meta.get("annotations"))
    pod_sc = _dict(spec.get("securityContext"))
    containers: list[dict[str, Any]] = []
    for field, label in _CONTAINER_LISTS:
        items = spec.get(field)
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            apparmor = annotations.get(f"{_APPARMOR_PREFIX}{item.get('name', '')}")
            entry = dict(item)
            entry["containerType"] = label
            image = item.get("image")
            entry["imageRef"] = parse_image_ref(image) if isinstance(image, str) else {}
            entry["effective"] = _effective(item, pod_sc, apparmor if isinstance(apparmor, str) else None)
            containers.append(entry)
    return {
        "podSpec": spec,
        "podMetadata": meta,
        "podContainers": containers,
        "podAppArmorAnnotations": [
            str(v) for k, v in annotations.items() if str(k).startswith(_APPARMOR_PREFIX)
        ],
    }


def _view_origins(kind: str, manifest: dict[str, Any], origins: dict[str, str]) -> dict[str, str]:
    """Origins for the normalised attributes, copied from the real paths they mirror."""
    paths = POD_SPEC_PATHS.get(kind)
    if paths is None:
        return {}
    prefixes = [(".".join(paths[0]), "podSpec"), (".".join(paths[1]), "podMetadata")]
    spec = _dict(_get(manifest, paths[0]))
    index = 0
    for field, _label in _CONTAINER_LISTS:
        items = spec.get(field)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict):
                prefixes.append((f"{prefixes[0][0]}.{field}[{i}]", f"podContainers[{index}]"))
                index += 1
    out: dict[str, str] = {}
    for path, where in origins.items():
        for real, alias in prefixes:
            if path == real or path.startswith((real + ".", real + "[")):
                out[alias + path[len(real) :]] = where
    return out


def resource_id(kind: str, name: str, namespace: str | None) -> str:
    """``Kind/namespace/name`` (namespace ``default`` when unset), ``Kind/name`` when cluster-scoped."""
    if kind in CLUSTER_SCOPED:
        return f"{kind}/{name}"
    return f"{kind}/{namespace or 'default'}/{name}"


def _redact(kind: str, doc: dict[str, Any]) -> None:
    """Secret values never enter the inventory (they would reach reports as evidence)."""
    if kind != "Secret":
        return
    for field in ("data", "stringData"):
        values = doc.get(field)
        if isinstance(values, dict):
            doc[field] = {k: _REDACTED for k in values}


def _items(doc: Any, origins: dict[str, int], line: int) -> Iterator[tuple[Any, dict[str, int], int, str]]:
    """The objects of one document: itself, or each item of a ``List`` / ``*List``."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
        implied = kind[: -len("List")]
        for i, item in enumerate(doc["items"]):
            prefix = f"items[{i}]"
            sub = {
                p[len(prefix) :].lstrip("."): n
                for p, n in origins.items()
                if p.startswith((prefix + ".", prefix + "["))
            }
            if isinstance(item, dict) and "kind" not in item and implied:
                item = {"kind": implied, **item}
            yield item, sub, origins.get(prefix, line), f"{kind} item {i}"
        return
    yield doc, origins, line, "document"


def _build(
    doc: Any, origins: dict[str, int], line: int, shown: str, located: bool, what: str
) -> Resource | IacIssue | None:
    at = line if located else None
    if not isinstance(doc, dict):
        return IacIssue(shown, f"{what} is not a mapping; skipped", at)
    kind = doc.get("kind")
    if not isinstance(kind, str) or not kind:
        if "apiVersion" not in doc and "metadata" not in doc:
            return None  # not an object (a values block, a comment-only document)
        return IacIssue(shown, f"{what} has no kind; skipped", at)
    if "metadata" not in doc:
        # Configuration files (kubeconfig ``Config``, ``KubeletConfiguration``) and audit
        # ``Event`` records carry apiVersion and kind but are not API objects.
        return None
    meta = _dict(doc.get("metadata"))
    name = meta.get("name") or meta.get("generateName")
    if not isinstance(name, str) or not name:
        return IacIssue(shown, f"{kind} has no metadata.name; skipped", at)
    namespace = meta.get("namespace")
    rid = resource_id(kind, name, namespace if isinstance(namespace, str) else None)
    _redact(kind, doc)
    where = {path: f"{shown}:{n}" for path, n in origins.items()} if located else {}
    attributes = dict(doc)
    attributes.update(workload_view(kind, doc))
    where.update(_view_origins(kind, doc, where))
    labels = _dict(meta.get("labels"))
    return Resource(
        kind=f"k8s.{kind.lower()}",
        id=rid,
        name=name,
        attributes=attributes,
        tags={str(k): str(v) for k, v in labels.items()},
        source="kubernetes",
        location=f"{shown}:{line}" if located else shown,
        origins=where,
    )


def _resources_from_text(text: str, shown: str, is_json: bool, located: bool) -> IacResult:
    """Every object of a manifest stream; bad documents cost themselves only."""
    result = IacResult()
    try:
        for doc, origins, line, in_file in _documents(text, is_json):
            for item, sub, item_line, what in _items(doc, origins, line):
                built = _build(item, sub, item_line, shown, located and in_file, what)
                if isinstance(built, IacIssue):
                    result.errors.append(built)
                elif built is not None:
                    result.resources.append(built)
    except ManifestError as exc:
        result.errors.append(IacIssue(shown, str(exc)))
    return result


def _documents(text: str, is_json: bool) -> Iterator[tuple[Any, dict[str, int], int, bool]]:
    for doc, origins, line in parse_manifests(text, is_json):
        yield doc, origins, line, bool(origins) or not is_json


# --- Helm and kustomize --------------------------------------------------------------------------


def _kustomization_file(directory: Path) -> Path | None:
    for name in _KUSTOMIZATION_NAMES:
        if (directory / name).is_file():
            return directory / name
    return None


def _kustomize_refs(directory: Path) -> tuple[list[str], list[str]]:
    """(resource/base/component entries, patch and generator file entries) of an overlay."""
    file = _kustomization_file(directory)
    if file is None:
        return [], []
    try:
        doc = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return [], []
    doc = _dict(doc)
    refs = [str(r) for key in ("resources", "bases", "components", "crds") for r in doc.get(key) or [] if r]
    files: list[str] = []
    for key in ("patchesStrategicMerge",):
        files += [str(p) for p in doc.get(key) or [] if isinstance(p, str)]
    for key in ("patches", "patchesJson6902"):
        files += [str(p["path"]) for p in doc.get(key) or [] if isinstance(p, dict) and p.get("path")]
    for key in ("configMapGenerator", "secretGenerator"):
        for gen in doc.get(key) or []:
            for entry in _dict(gen).get("files") or []:
                files.append(str(entry).split("=", 1)[-1])
            for entry in _dict(gen).get("envs") or []:
                files.append(str(entry))
    return refs, files


def _unsafe_tree(directory: Path, root: Path) -> str | None:
    """Why rendering ``directory`` could read outside ``root`` (escaping symlinks), or None."""
    for path in walk_files(directory):
        if path.is_symlink() and not inside(path, root):
            return f"{relative(path, root)} points outside the scanned directory"
    for current, dirs, _files in os.walk(directory):
        for d in dirs:
            if (Path(current) / d).is_symlink() and not inside(Path(current) / d, root):
                return f"{relative(Path(current) / d, root)} points outside the scanned directory"
    return None


def _check_kustomization(directory: Path, root: Path, seen: set[Path]) -> str | None:
    """Why ``kubectl kustomize directory`` is not run (remote bases, paths leaving the root)."""
    real = directory.resolve()
    if real in seen:
        return None
    seen.add(real)
    problem = _unsafe_tree(directory, root)
    if problem:
        return problem
    refs, files = _kustomize_refs(directory)
    for ref in [*refs, *files]:
        if _REMOTE.search(ref):
            return f"remote base {ref!r} is not fetched"
        target = directory / ref
        if not inside(target, root):
            return f"{ref!r} is outside the scanned directory"
        if ref in refs and target.is_dir():
            problem = _check_kustomization(target, root, seen)
            if problem:
                return problem
    return None


def _run_tool(cmd: list[str], cwd: Path) -> tuple[str | None, str]:
    """(stdout, "") or (None, one-line reason). Runs with a private HOME and a timeout."""
    with tempfile.TemporaryDirectory(prefix="yamori-k8s-home-") as home:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "LANG": "C.UTF-8"}
        try:
            done = subprocess.run(
                cmd, cwd=cwd, env=env, capture_output=True, timeout=_TOOL_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            return None, f"{Path(cmd[0]).name} timed out after {_TOOL_TIMEOUT:.0f}s"
        except OSError as exc:
            return None, f"cannot run {cmd[0]}: {exc.strerror or exc}"
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        reason = lines[-1].strip()[:300] if lines else f"exit status {done.returncode}"
        return None, f"{Path(cmd[0]).name} failed: {reason}"
    return done.stdout.decode("utf-8", "replace"), ""


def _render_kustomize(directory: Path, root: Path, result: IacResult) -> None:
    shown = relative(directory, root) or "."
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        result.warnings.append(
            IacIssue(shown, "kustomize overlay not rendered: kubectl is not installed (install kubectl)")
        )
        return
    problem = _check_kustomization(directory, root, set())
    if problem:
        result.warnings.append(IacIssue(shown, f"kustomize overlay not rendered: {problem}"))
        return
    out, reason = _run_tool([kubectl, "kustomize", str(directory.resolve())], directory)
    if out is None:
        result.errors.append(IacIssue(shown, f"kustomize overlay not rendered: {reason}"))
        return
    file = _kustomization_file(directory)
    label = relative(file, root) if file else shown
    result.extend(_resources_from_text(out, label, False, located=False))


def _render_helm(chart: Path, root: Path, result: IacResult) -> None:
    shown = relative(chart, root) or "."
    helm = shutil.which("helm")
    if helm is None:
        result.warnings.append(
            IacIssue(shown, "Helm chart not rendered: helm is not installed (install helm)")
        )
        return
    problem = _unsafe_tree(chart, root)
    if problem:
        result.warnings.append(IacIssue(shown, f"Helm chart not rendered: {problem}"))
        return
    with tempfile.TemporaryDirectory(prefix="yamori-helm-") as out_dir:
        release = re.sub(r"[^a-z0-9-]", "-", chart.resolve().name.lower()).strip("-")[:53] or "release"
        _out, reason = _run_tool(
            [helm, "template", release, str(chart.resolve()), "--output-dir", out_dir], chart
        )
        if _out is None:
            result.errors.append(IacIssue(shown, f"Helm chart not rendered: {reason}"))
            return
        for rendered in sorted(Path(out_dir).rglob("*")):
            if not rendered.is_file() or not rendered.name.endswith(_SUFFIXES):
                continue
            # ``OUT/<chart name>/templates/x.yaml`` names the template that produced it.
            inner = rendered.relative_to(out_dir).as_posix().split("/", 1)[-1]
            label = relative(chart / inner, root)
            text = rendered.read_text(encoding="utf-8", errors="replace")
            result.extend(_resources_from_text(text, label, False, located=False))


# --- the adapter ---------------------------------------------------------------------------------


def _is_chart(path: Path) -> bool:
    return path.is_dir() and (path / _CHART_FILE).is_file()


def _under(path: Path, dirs: set[Path]) -> bool:
    return any(d == path or d in path.parents for d in dirs)


class KubernetesAdapter(IacAdapter):
    """Kubernetes manifests (YAML multi-document streams, JSON), Helm charts, kustomize overlays."""

    name: ClassVar[str] = "kubernetes"
    source: ClassVar[str] = "kubernetes"

    def claims(self, path: Path) -> bool:
        if path.is_dir():
            return _is_chart(path) or _kustomization_file(path) is not None
        if not path.is_file() or not path.name.lower().endswith(_SUFFIXES):
            return False
        if path.name in _KUSTOMIZATION_NAMES or path.name == _CHART_FILE:
            return False
        try:
            with path.open("rb") as handle:
                head = handle.read(65536)
        except OSError:
            return False
        return (
            bool(_HEAD_API.search(head) and _HEAD_KIND.search(head))
            and b"AWSTemplateFormatVersion" not in head
        )

    def inputs(self, root: Path) -> list[Path]:
        """Charts and leaf overlays as directory units, plus manifests neither of them renders.

        Files of a chart are Go templates (never parsed raw). An overlay that another overlay
        uses as a base is rendered through that one only, so its objects are not reported
        twice. When kubectl is present, the files an overlay consumes are not parsed raw again;
        patch and generator files (partial objects) never are.
        """
        files = list(walk_files(root))
        charts = {p.parent for p in files if p.name == _CHART_FILE and p.is_file()}
        charts = {c for c in charts if not any(o != c and o in c.parents for o in charts)}
        overlays = {
            p.parent for p in files if p.name in _KUSTOMIZATION_NAMES and not _under(p.parent, charts)
        }
        used_as_base: set[Path] = set()
        consumed: set[Path] = set()
        partial: set[Path] = set()
        for overlay in overlays:
            refs, extra = _kustomize_refs(overlay)
            for ref in refs:
                target = (overlay / ref).resolve()
                if target.is_dir():
                    used_as_base.add(target)
                else:
                    consumed.add(target)
            partial.update((overlay / f).resolve() for f in extra)
        leaves = sorted(o for o in overlays if o.resolve() not in used_as_base)
        render = shutil.which("kubectl") is not None
        units: list[Path] = sorted(charts) + leaves
        for path in files:
            if _under(path, charts) or path.resolve() in partial:
                continue
            if render and (path.parent in overlays or path.resolve() in consumed):
                continue
            if self.claims(path) or (path.is_symlink() and path.name.endswith(_SUFFIXES)):
                units.append(path)
        return units

    def load(self, path: Path, options: IacOptions | None = None, *, root: Path | None = None) -> IacResult:
        options = options or IacOptions()
        root = root or (path if path.is_dir() else path.parent)
        result = IacResult()
        if path.is_dir() and inside(path, root):
            if _is_chart(path):
                _render_helm(path, root, result)
            elif _kustomization_file(path) is not None:
                _render_kustomize(path, root, result)
            return result
        shown = relative(path, root)
        text, issue = read_text(path, root, options.max_file_bytes)
        if issue is not None or text is None:
            result.errors.append(issue or IacIssue(shown, "cannot read"))
            return result
        result.extend(_resources_from_text(text, shown, path.suffix.lower() == ".json", located=True))
        return result


ADAPTER: Final = KubernetesAdapter()
