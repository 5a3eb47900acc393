"""Hooks for Kubernetes checks the condition language cannot express.

``k8s_pod_volume_types`` (Pod Security Standards, restricted "Volume Types") — every volume of
the pod must use one of the ``allowed`` sources. A volume is ``{name, <source>: {...}}``; the
standard lists the sources allowed, so the check is an allow-list over the keys other than
``name`` — which a condition (a deny-list of every other source) would get wrong as soon as
Kubernetes adds a volume type.

``k8s_namespace_has_network_policy`` — a workload whose namespace has no NetworkPolicy selecting
its pods accepts traffic from every pod in the cluster. The hook joins the workload to the
``k8s.networkpolicy`` resources of the inventory: same namespace (``default`` when unset), and a
``podSelector`` matching the pod template's labels (``matchLabels`` and ``matchExpressions`` with
``In``/``NotIn``/``Exists``/``DoesNotExist``; an empty selector selects every pod).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from yamori.model.finding import Status
from yamori.model.resource import UNKNOWN, Resource
from yamori.policy.hooks.registry import register_hook
from yamori.policy.interface import ABSENT, CheckResult
from yamori.policy.inventory import Inventory
from yamori.policy.paths import read_attribute

__all__ = ["k8s_namespace_has_network_policy", "k8s_pod_volume_types", "selector_matches"]

NETWORK_POLICY: Final = "k8s.networkpolicy"


@register_hook("k8s_pod_volume_types", params={"allowed": list}, required=("allowed",))
def k8s_pod_volume_types(resource: Resource, inventory: Inventory, args: Mapping[str, Any]) -> CheckResult:
    """PASS when every ``podSpec.volumes[*]`` source is one of ``allowed``."""
    spec = read_attribute(resource, "podSpec")
    if spec is ABSENT:
        return CheckResult(Status.NOT_APPLICABLE, "no pod spec")
    volumes = read_attribute(resource, "podSpec.volumes")
    if volumes is UNKNOWN:
        return CheckResult(Status.UNKNOWN, "podSpec.volumes is unknown")
    allowed = {str(a) for a in args["allowed"]}
    bad: list[str] = []
    for volume in volumes if isinstance(volumes, list) else []:
        if not isinstance(volume, dict):
            continue
        kinds = [k for k in volume if k != "name"]
        bad += [f"{volume.get('name', '?')} ({k})" for k in kinds if k not in allowed]
    if bad:
        return CheckResult(
            Status.FAIL, f"volumes of a type outside the restricted set: {', '.join(bad)}", {"volumes": bad}
        )
    return CheckResult(Status.PASS, "every volume type is allowed")


def _match_expression(labels: Mapping[str, str], expr: Any) -> bool:
    if not isinstance(expr, dict):
        return False
    key, op = str(expr.get("key", "")), str(expr.get("operator", ""))
    values = [str(v) for v in expr.get("values") or []]
    rule = _OPERATORS.get(op)
    return rule(labels, key, values) if rule is not None else False


_OPERATORS: Final = {
    "In": lambda labels, key, values: key in labels and labels[key] in values,
    "NotIn": lambda labels, key, values: key not in labels or labels[key] not in values,
    "Exists": lambda labels, key, values: key in labels,
    "DoesNotExist": lambda labels, key, values: key not in labels,
}


def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector against a label set (an empty or absent selector matches all)."""
    if not isinstance(selector, dict):
        return True
    match_labels = selector.get("matchLabels") or {}
    if isinstance(match_labels, dict) and any(labels.get(str(k)) != str(v) for k, v in match_labels.items()):
        return False
    exprs = selector.get("matchExpressions") or []
    return all(_match_expression(labels, e) for e in (exprs if isinstance(exprs, list) else []))


def _namespace(resource: Resource) -> str:
    meta = resource.attributes.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) and ns else "default"


def _pod_selector(policy: Resource) -> Any:
    spec = policy.attributes.get("spec")
    return spec.get("podSelector") if isinstance(spec, dict) else None


@register_hook("k8s_namespace_has_network_policy")
def k8s_namespace_has_network_policy(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """PASS when a NetworkPolicy of the workload's namespace selects its pods."""
    if read_attribute(resource, "podSpec") is ABSENT:
        return CheckResult(Status.NOT_APPLICABLE, "no pod spec")
    labels_raw = read_attribute(resource, "podMetadata.labels")
    if labels_raw is UNKNOWN:
        return CheckResult(Status.UNKNOWN, "pod labels are unknown")
    labels = {str(k): str(v) for k, v in labels_raw.items()} if isinstance(labels_raw, dict) else {}
    namespace = _namespace(resource)
    in_namespace = [p for p in inventory.by_kind(NETWORK_POLICY) if _namespace(p) == namespace]
    selecting = [p.id for p in in_namespace if selector_matches(_pod_selector(p), labels)]
    evidence = {"namespace": namespace, "network_policies": [p.id for p in in_namespace]}
    if selecting:
        return CheckResult(
            Status.PASS, f"selected by {', '.join(selecting)}", {**evidence, "selected_by": selecting}
        )
    if in_namespace:
        return CheckResult(
            Status.FAIL, f"no NetworkPolicy in namespace {namespace} selects these pods", evidence
        )
    return CheckResult(Status.FAIL, f"namespace {namespace} has no NetworkPolicy", evidence)
