"""Builtin Kubernetes and Docker policies: every Pod Security Standards control good and bad,
RBAC, exposure, limits, image pinning, NetworkPolicy, CIS Docker section 4 — and one policy
giving the same result on a Dockerfile and on the image configuration built from it."""

# ruff: noqa: E501 - the case tables read best as one case per line

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from yamori.model.artifact import ArtifactInfo, LayerInfo
from yamori.model.finding import Status
from yamori.model.resource import Resource
from yamori.policy import Policy, builtin_policies, evaluate
from yamori.sources.iac import adapter
from yamori.sources.iac.dockerfile import image_config_resource

NOW = datetime(2025, 1, 1, tzinfo=UTC)
FIXTURES = Path(__file__).parent.parent / "fixtures"
POLICIES = {p.id: p for p in builtin_policies() if p.id.startswith(("k8s-", "docker-"))}
PSS = sorted(p for p in POLICIES if p.startswith("k8s-pss-"))
DELETE = object()


def manifests_to_resources(tmp_path: Path, docs: list[dict[str, Any]]) -> list[Resource]:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    result = adapter("kubernetes").load(path, root=tmp_path)
    assert result.errors == []
    return result.resources


def status_of(policy_id: str, resources: list[Resource], resource_id: str | None = None) -> Status:
    findings = evaluate([POLICIES[policy_id]], resources, now=NOW)
    if resource_id is not None:
        findings = [f for f in findings if f.resource == resource_id]
    (finding,) = findings
    return finding.status


def _set(doc: Any, path: str, value: Any) -> None:
    found = re.findall(r"\['([^']*)'\]|([^.\[\]]+)", path)
    steps: list[Any] = [quoted or (int(plain) if plain.isdigit() else plain) for quoted, plain in found]
    for i, step in enumerate(steps[:-1]):
        nxt = steps[i + 1]
        doc = doc[step] if isinstance(step, int) else doc.setdefault(step, [] if isinstance(nxt, int) else {})
    last = steps[-1]
    if value is DELETE:
        doc.pop(last, None)
    elif isinstance(last, int) and isinstance(doc, list) and last == len(doc):
        doc.append(value)
    else:
        doc[last] = value


RESTRICTED_CONTAINER = {
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
}
GOOD_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "apps", "labels": {"app": "p"}},
    "spec": {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {"name": "app", "image": "registry.example/app:1.2.3", **copy.deepcopy(RESTRICTED_CONTAINER)}
        ],
        "initContainers": [{"name": "init", "image": "busybox:1.36", **copy.deepcopy(RESTRICTED_CONTAINER)}],
        "volumes": [{"name": "cfg", "configMap": {"name": "c"}}, {"name": "tmp", "emptyDir": {}}],
    },
}
APPARMOR = "metadata.annotations['container.apparmor.security.beta.kubernetes.io/app']"

# (policy id, case, [(path, value)]) -> the policy FAILs on the good pod with these changes.
BAD: list[tuple[str, str, list[tuple[str, Any]]]] = [
    ("k8s-pss-baseline-host-process", "pod", [("spec.securityContext.windowsOptions.hostProcess", True)]),
    ("k8s-pss-baseline-host-process", "container", [("spec.containers[0].securityContext.windowsOptions.hostProcess", True)]),
    ("k8s-pss-baseline-host-namespaces", "network", [("spec.hostNetwork", True)]),
    ("k8s-pss-baseline-host-namespaces", "pid", [("spec.hostPID", True)]),
    ("k8s-pss-baseline-host-namespaces", "ipc", [("spec.hostIPC", True)]),
    ("k8s-pss-baseline-privileged", "container", [("spec.containers[0].securityContext.privileged", True)]),
    ("k8s-pss-baseline-privileged", "init", [("spec.initContainers[0].securityContext.privileged", True)]),
    ("k8s-pss-baseline-privileged", "ephemeral", [("spec.ephemeralContainers", [{"name": "dbg", "image": "busybox:1", "securityContext": {"privileged": True}}])]),
    ("k8s-pss-baseline-capabilities", "sys-admin", [("spec.containers[0].securityContext.capabilities.add", ["SYS_ADMIN"])]),
    ("k8s-pss-baseline-host-path-volumes", "hostpath", [("spec.volumes[2]", {"name": "h", "hostPath": {"path": "/"}})]),
    ("k8s-pss-baseline-host-ports", "hostport", [("spec.containers[0].ports", [{"containerPort": 80, "hostPort": 8080}])]),
    ("k8s-pss-baseline-apparmor", "pod", [("spec.securityContext.appArmorProfile", {"type": "Unconfined"})]),
    ("k8s-pss-baseline-apparmor", "container", [("spec.containers[0].securityContext.appArmorProfile", {"type": "Unconfined"})]),
    ("k8s-pss-baseline-apparmor", "annotation", [(APPARMOR, "unconfined")]),
    ("k8s-pss-baseline-selinux", "type", [("spec.securityContext.seLinuxOptions", {"type": "spc_t"})]),
    ("k8s-pss-baseline-selinux", "user", [("spec.containers[0].securityContext.seLinuxOptions", {"user": "system_u"})]),
    ("k8s-pss-baseline-selinux", "role", [("spec.initContainers[0].securityContext.seLinuxOptions", {"role": "sysadm_r"})]),
    ("k8s-pss-baseline-proc-mount", "unmasked", [("spec.containers[0].securityContext.procMount", "Unmasked")]),
    ("k8s-pss-baseline-seccomp", "pod", [("spec.securityContext.seccompProfile.type", "Unconfined")]),
    ("k8s-pss-baseline-seccomp", "container", [("spec.containers[0].securityContext.seccompProfile", {"type": "Unconfined"})]),
    ("k8s-pss-baseline-sysctls", "unsafe", [("spec.securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}])]),
    ("k8s-pss-restricted-volume-types", "nfs", [("spec.volumes[2]", {"name": "n", "nfs": {"server": "s", "path": "/"}})]),
    ("k8s-pss-restricted-privilege-escalation", "unset", [("spec.containers[0].securityContext.allowPrivilegeEscalation", DELETE)]),
    ("k8s-pss-restricted-privilege-escalation", "true", [("spec.initContainers[0].securityContext.allowPrivilegeEscalation", True)]),
    ("k8s-pss-restricted-run-as-non-root", "unset", [("spec.securityContext.runAsNonRoot", DELETE)]),
    ("k8s-pss-restricted-run-as-non-root", "container-false", [("spec.containers[0].securityContext.runAsNonRoot", False)]),
    ("k8s-pss-restricted-run-as-non-root", "pod-false", [
        ("spec.securityContext.runAsNonRoot", False),
        ("spec.containers[0].securityContext.runAsNonRoot", True),
        ("spec.initContainers[0].securityContext.runAsNonRoot", True),
    ]),
    ("k8s-pss-restricted-run-as-user", "pod", [("spec.securityContext.runAsUser", 0)]),
    ("k8s-pss-restricted-run-as-user", "container", [("spec.containers[0].securityContext.runAsUser", 0)]),
    ("k8s-pss-restricted-seccomp", "unset", [("spec.securityContext.seccompProfile", DELETE)]),
    ("k8s-pss-restricted-seccomp", "container-unconfined", [("spec.containers[0].securityContext.seccompProfile", {"type": "Unconfined"})]),
    ("k8s-pss-restricted-capabilities", "no-drop", [("spec.containers[0].securityContext.capabilities", {})]),
    ("k8s-pss-restricted-capabilities", "add-chown", [("spec.initContainers[0].securityContext.capabilities.add", ["CHOWN"])]),
]  # fmt: skip

# Variants the standard allows: the named policy still PASSes.
ALLOWED: list[tuple[str, str, list[tuple[str, Any]]]] = [
    ("k8s-pss-baseline-capabilities", "net-bind", [("spec.containers[0].securityContext.capabilities.add", ["NET_BIND_SERVICE", "CHOWN"])]),
    ("k8s-pss-baseline-host-ports", "zero", [("spec.containers[0].ports", [{"containerPort": 80, "hostPort": 0}])]),
    ("k8s-pss-baseline-apparmor", "runtime-default", [(APPARMOR, "runtime/default"), ("spec.securityContext.appArmorProfile", {"type": "Localhost", "localhostProfile": "p"})]),
    ("k8s-pss-baseline-selinux", "container-type", [("spec.securityContext.seLinuxOptions", {"type": "container_init_t", "level": "s0:c1"})]),
    ("k8s-pss-baseline-proc-mount", "default", [("spec.containers[0].securityContext.procMount", "Default")]),
    ("k8s-pss-baseline-sysctls", "safe", [("spec.securityContext.sysctls", [{"name": "net.ipv4.tcp_syncookies", "value": "1"}])]),
    ("k8s-pss-restricted-volume-types", "projected", [("spec.volumes[2]", {"name": "t", "projected": {"sources": []}})]),
    ("k8s-pss-restricted-run-as-non-root", "containers-only", [
        ("spec.securityContext.runAsNonRoot", DELETE),
        ("spec.containers[0].securityContext.runAsNonRoot", True),
        ("spec.initContainers[0].securityContext.runAsNonRoot", True),
    ]),
    ("k8s-pss-restricted-seccomp", "containers-only", [
        ("spec.securityContext.seccompProfile", DELETE),
        ("spec.containers[0].securityContext.seccompProfile", {"type": "RuntimeDefault"}),
        ("spec.initContainers[0].securityContext.seccompProfile", {"type": "Localhost", "localhostProfile": "p"}),
    ]),
    ("k8s-pss-restricted-capabilities", "net-bind", [("spec.containers[0].securityContext.capabilities.add", ["NET_BIND_SERVICE"])]),
]  # fmt: skip


def pod_with(changes: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD_POD)
    for path, value in changes:
        _set(doc, path, value)
    return doc


def test_good_pod_passes_every_pss_control(tmp_path: Path) -> None:
    resources = manifests_to_resources(tmp_path, [GOOD_POD])
    statuses = {p: status_of(p, resources) for p in PSS}
    assert statuses == dict.fromkeys(PSS, Status.PASS)


def test_every_pss_control_has_a_bad_case_and_a_compliance_mapping() -> None:
    assert {policy for policy, _, _ in BAD} == set(PSS)
    controls = {c for p in PSS for c in POLICIES[p].compliance.get("k8s-pss-restricted", ())}
    assert controls == {
        "HostProcess", "Host Namespaces", "Privileged Containers", "Capabilities", "HostPath Volumes",
        "Host Ports", "AppArmor", "SELinux", "/proc Mount Type", "Seccomp", "Sysctls", "Volume Types",
        "Privilege Escalation", "Running as Non-root", "Running as Non-root user",
    }  # fmt: skip
    baseline = {c for p in PSS for c in POLICIES[p].compliance.get("k8s-pss-baseline", ())}
    assert len(baseline) == 11


@pytest.mark.parametrize(("policy", "case", "changes"), BAD, ids=[f"{p}:{c}" for p, c, _ in BAD])
def test_pss_bad(tmp_path: Path, policy: str, case: str, changes: list[tuple[str, Any]]) -> None:
    assert status_of(policy, manifests_to_resources(tmp_path, [pod_with(changes)])) is Status.FAIL


@pytest.mark.parametrize(("policy", "case", "changes"), ALLOWED, ids=[f"{p}:{c}" for p, c, _ in ALLOWED])
def test_pss_allowed_variants(tmp_path: Path, policy: str, case: str, changes: list[tuple[str, Any]]) -> None:
    assert status_of(policy, manifests_to_resources(tmp_path, [pod_with(changes)])) is Status.PASS


def test_pss_finding_points_at_the_line(tmp_path: Path) -> None:
    resources = manifests_to_resources(tmp_path, [pod_with([("spec.hostNetwork", True)])])
    (finding,) = evaluate([POLICIES["k8s-pss-baseline-host-namespaces"]], resources, now=NOW)
    origins = finding.evidence["origins"]
    assert any(v.startswith("m.yaml:") for v in origins.values())


def test_windows_pods_are_exempt_from_linux_only_controls(tmp_path: Path) -> None:
    doc = pod_with(
        [
            ("spec.os", {"name": "windows"}),
            ("spec.containers[0].securityContext.allowPrivilegeEscalation", DELETE),
        ]
    )
    resources = manifests_to_resources(tmp_path, [doc])
    assert status_of("k8s-pss-restricted-privilege-escalation", resources) is Status.NOT_APPLICABLE


@pytest.mark.parametrize(
    "kind",
    ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"],
)
def test_pod_policies_read_every_workload_kind(tmp_path: Path, kind: str) -> None:
    pod_spec = pod_with([("spec.containers[0].securityContext.privileged", True)])["spec"]
    template = {"metadata": {"labels": {"app": "x"}}, "spec": pod_spec}
    spec: dict[str, Any] = {"template": template}
    if kind == "CronJob":
        spec = {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}}
    doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "w"}, "spec": spec}
    resources = manifests_to_resources(tmp_path, [doc])
    assert status_of("k8s-pss-baseline-privileged", resources) is Status.FAIL
    assert status_of("k8s-pss-restricted-seccomp", resources) is Status.PASS


# --- RBAC, exposure, limits, images, NetworkPolicy ----------------------------------------------

RBAC: list[tuple[str, list[dict[str, Any]], Status]] = [
    ("k8s-rbac-no-wildcard-verbs", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}], Status.FAIL),
    ("k8s-rbac-no-wildcard-verbs", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], Status.PASS),
    ("k8s-rbac-no-wildcard-resources", [{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}], Status.FAIL),
    ("k8s-rbac-no-wildcard-resources", [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}], Status.PASS),
    ("k8s-rbac-no-secret-read", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}], Status.FAIL),
    ("k8s-rbac-no-secret-read", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}], Status.PASS),
    ("k8s-rbac-no-secret-read", [{"apiGroups": ["apps"], "resources": ["secrets"], "verbs": ["get"]}], Status.PASS),
    ("k8s-rbac-no-pod-exec", [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}], Status.FAIL),
    ("k8s-rbac-no-pod-exec", [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}], Status.PASS),
    ("k8s-rbac-no-escalate-bind-impersonate", [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}], Status.FAIL),
    ("k8s-rbac-no-escalate-bind-impersonate", [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]}], Status.FAIL),
    ("k8s-rbac-no-escalate-bind-impersonate", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}], Status.PASS),
    ("k8s-rbac-no-nodes-proxy", [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}], Status.FAIL),
    ("k8s-rbac-no-nodes-proxy", [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}], Status.PASS),
]  # fmt: skip


@pytest.mark.parametrize(("policy", "rules", "expected"), RBAC)
@pytest.mark.parametrize("kind", ["Role", "ClusterRole"])
def test_rbac(tmp_path: Path, policy: str, rules: list[dict[str, Any]], expected: Status, kind: str) -> None:
    doc = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "r"},
        "rules": rules,
    }
    assert status_of(policy, manifests_to_resources(tmp_path, [doc])) is expected


@pytest.mark.parametrize(("role", "expected"), [("cluster-admin", Status.FAIL), ("view", Status.PASS)])
def test_cluster_admin_binding(tmp_path: Path, role: str, expected: Status) -> None:
    doc = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "Group", "name": "ops"}],
    }
    assert status_of("k8s-rbac-no-cluster-admin-binding", manifests_to_resources(tmp_path, [doc])) is expected


@pytest.mark.parametrize(
    ("policy", "spec_type", "annotations", "expected"),
    [
        ("k8s-service-no-nodeport", "NodePort", {}, Status.FAIL),
        ("k8s-service-no-nodeport", "ClusterIP", {}, Status.PASS),
        ("k8s-service-no-public-loadbalancer", "LoadBalancer", {}, Status.FAIL),
        ("k8s-service-no-public-loadbalancer", "LoadBalancer", {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}, Status.PASS),
        ("k8s-service-no-public-loadbalancer", "ClusterIP", {}, Status.PASS),
    ],
)  # fmt: skip
def test_service_exposure(
    tmp_path: Path, policy: str, spec_type: str, annotations: dict[str, str], expected: Status
) -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "annotations": annotations},
        "spec": {"type": spec_type, "ports": [{"port": 80}]},
    }
    assert status_of(policy, manifests_to_resources(tmp_path, [doc])) is expected


@pytest.mark.parametrize(
    ("policy", "changes", "expected"),
    [
        ("k8s-container-cpu-limits", [], Status.PASS),
        ("k8s-container-cpu-limits", [("spec.containers[0].resources.limits.cpu", DELETE)], Status.FAIL),
        ("k8s-container-memory-limits", [("spec.initContainers[0].resources", DELETE)], Status.FAIL),
        ("k8s-container-memory-limits", [], Status.PASS),
        ("k8s-container-image-pinned", [], Status.PASS),
        ("k8s-container-image-pinned", [("spec.containers[0].image", "nginx")], Status.FAIL),
        ("k8s-container-image-pinned", [("spec.containers[0].image", "nginx:latest")], Status.FAIL),
        (
            "k8s-container-image-pinned",
            [("spec.initContainers[0].image", "registry:5000/tools")],
            Status.FAIL,
        ),
        (
            "k8s-container-image-pinned",
            [("spec.containers[0].image", "nginx@sha256:" + "a" * 64)],
            Status.PASS,
        ),
        (
            "k8s-container-image-pinned",
            [("spec.containers[0].image", "nginx:latest@sha256:" + "a" * 64)],
            Status.PASS,
        ),
    ],
)
def test_limits_and_images(
    tmp_path: Path, policy: str, changes: list[tuple[str, Any]], expected: Status
) -> None:
    assert status_of(policy, manifests_to_resources(tmp_path, [pod_with(changes)])) is expected


def _netpol(namespace: str, selector: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "np", "namespace": namespace},
        "spec": {"podSelector": selector, "policyTypes": ["Ingress"]},
    }


@pytest.mark.parametrize(
    ("policies", "expected"),
    [
        ([], Status.FAIL),
        ([_netpol("apps", {})], Status.PASS),
        ([_netpol("apps", {"matchLabels": {"app": "p"}})], Status.PASS),
        ([_netpol("apps", {"matchLabels": {"app": "other"}})], Status.FAIL),
        ([_netpol("other", {})], Status.FAIL),
        ([_netpol("apps", {"matchExpressions": [{"key": "app", "operator": "In", "values": ["p", "q"]}]})], Status.PASS),
        ([_netpol("apps", {"matchExpressions": [{"key": "tier", "operator": "Exists"}]})], Status.FAIL),
    ],
)  # fmt: skip
def test_network_policy_per_namespace(
    tmp_path: Path, policies: list[dict[str, Any]], expected: Status
) -> None:
    resources = manifests_to_resources(tmp_path, [GOOD_POD, *policies])
    assert status_of("k8s-workload-network-policy", resources, "Pod/apps/p") is expected


def test_fixture_cluster_findings() -> None:
    root = FIXTURES / "iac-k8s"
    resources = [
        r
        for name in ("cluster.json", "network.yaml")
        for r in adapter("kubernetes").load(root / name, root=root).resources
    ]
    by_rule = {
        (f.rule_id, f.resource): f.status for f in evaluate(list(POLICIES.values()), resources, now=NOW)
    }
    assert by_rule[("k8s-rbac-no-cluster-admin-binding", "ClusterRoleBinding/ops-admin")] is Status.FAIL
    assert by_rule[("k8s-rbac-no-pod-exec", "Role/apps/exec")] is Status.FAIL
    assert by_rule[("k8s-rbac-no-pod-exec", "ClusterRole/reader")] is Status.PASS
    assert by_rule[("k8s-service-no-public-loadbalancer", "Service/apps/web")] is Status.FAIL


# --- Docker: CIS section 4 on Dockerfiles and image configs --------------------------------------

DOCKER_IDS = sorted(p for p in POLICIES if p.startswith("docker-"))


def dockerfile(tmp_path: Path, text: str) -> Resource:
    (tmp_path / "Dockerfile").write_text(text)
    result = adapter("dockerfile").load(tmp_path / "Dockerfile", root=tmp_path)
    assert result.errors == []
    (res,) = result.resources
    return res


DOCKER_CASES: list[tuple[str, str, Status]] = [
    ("docker-user-not-root", "FROM debian:12\nUSER app\n", Status.PASS),
    ("docker-user-not-root", "FROM debian:12\nUSER app\nUSER 0\n", Status.FAIL),
    ("docker-user-not-root", "FROM debian:12\n", Status.FAIL),
    ("docker-healthcheck", "FROM debian:12\nHEALTHCHECK CMD true\n", Status.PASS),
    ("docker-healthcheck", "FROM debian:12\nHEALTHCHECK NONE\n", Status.FAIL),
    ("docker-healthcheck", "FROM debian:12\n", Status.FAIL),
    ("docker-package-update-alone", "FROM debian:12\nRUN apt-get update && apt-get install -y a\n", Status.PASS),
    ("docker-package-update-alone", "FROM debian:12\nRUN apt-get -q update\nRUN apt-get install -y a\n", Status.FAIL),
    ("docker-package-update-alone", "FROM alpine:3\nRUN apk update\n", Status.FAIL),
    ("docker-package-update-alone", "FROM fedora:40\nRUN dnf makecache\n", Status.FAIL),
    ("docker-copy-not-add", "FROM debian:12\nCOPY a.tar.gz /x/\nADD conf /etc/\n", Status.PASS),
    ("docker-copy-not-add", "FROM debian:12\nADD https://example.com/x /x\n", Status.FAIL),
    ("docker-copy-not-add", "FROM debian:12\nADD --checksum=sha256:00 https://example.com/x /x\n", Status.PASS),
    ("docker-copy-not-add", "FROM debian:12\nADD a.tar.gz /x/\n", Status.FAIL),
    ("docker-no-secrets-in-env", "FROM debian:12\nENV MODE=prod GPG_KEY=ABCD\n", Status.PASS),
    ("docker-no-secrets-in-env", "FROM debian:12\nENV AWS_SECRET_ACCESS_KEY=x\n", Status.FAIL),
    ("docker-no-secrets-in-env", "FROM debian:12\nENV DB_PASSWORD x\n", Status.FAIL),
    ("docker-no-secrets-in-env", "FROM debian:12\nENV STRIPE_API_KEY=x\n", Status.FAIL),
    ("docker-no-secrets-in-arg", "FROM debian:12\nARG VERSION=1\n", Status.PASS),
    ("docker-no-secrets-in-arg", "FROM debian:12\nARG NPM_TOKEN\n", Status.FAIL),
    ("docker-package-cache-cleaned", "FROM debian:12\nRUN apt-get update && apt-get install -y a && rm -rf /var/lib/apt/lists/*\n", Status.PASS),
    ("docker-package-cache-cleaned", "FROM debian:12\nRUN apt-get update && apt-get install -y a\n", Status.FAIL),
    ("docker-package-cache-cleaned", "FROM alpine:3\nRUN apk add --no-cache curl\n", Status.PASS),
    ("docker-package-cache-cleaned", "FROM alpine:3\nRUN apk add curl\n", Status.FAIL),
    ("docker-package-cache-cleaned", "FROM fedora:40\nRUN dnf install -y a && dnf clean all\n", Status.PASS),
    ("docker-package-cache-cleaned", "FROM debian:12\nRUN --mount=type=cache,target=/var/lib/apt/lists apt-get update && apt-get install -y a\n", Status.PASS),
    ("docker-package-cache-cleaned", "FROM debian:12\nRUN echo no installs\n", Status.PASS),
    ("docker-base-image-pinned", "FROM debian:12.5\n", Status.PASS),
    ("docker-base-image-pinned", "FROM debian\n", Status.FAIL),
    ("docker-base-image-pinned", "FROM debian:latest\n", Status.FAIL),
    ("docker-base-image-pinned", "FROM debian@sha256:00\n", Status.PASS),
    ("docker-base-image-pinned", "FROM scratch\n", Status.NOT_APPLICABLE),
    ("docker-base-image-pinned", "FROM golang:1.22 AS b\nFROM b\n", Status.PASS),
]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "text", "expected"), DOCKER_CASES, ids=[f"{p}:{i}" for i, (p, _, _) in enumerate(DOCKER_CASES)]
)
def test_dockerfile_policies(tmp_path: Path, policy: str, text: str, expected: Status) -> None:
    assert status_of(policy, [dockerfile(tmp_path, text)]) is expected


def test_docker_policies_cover_both_kinds_and_cis_controls() -> None:
    for pid in DOCKER_IDS:
        assert set(POLICIES[pid].kinds) == {"docker.dockerfile", "docker.image_config"}
    cis = {c for pid in DOCKER_IDS for c in POLICIES[pid].compliance.get("cis-docker", ())}
    assert cis == {"4.1", "4.6", "4.7", "4.9", "4.10"}


def statuses(resources: list[Resource], policies: list[Policy] | None = None) -> dict[str, Status]:
    chosen = policies if policies is not None else [POLICIES[p] for p in DOCKER_IDS]
    return {f.rule_id: f.status for f in evaluate(chosen, resources, now=NOW)}


@pytest.mark.parametrize(
    ("name", "config"),
    [("Dockerfile", "good.image-config.json"), ("bad.Dockerfile", "bad.image-config.json")],
)
def test_same_policy_same_result_on_dockerfile_and_image_config(name: str, config: str) -> None:
    root = FIXTURES / "iac-docker"
    (declared,) = adapter("dockerfile").load(root / name, root=root).resources
    built = image_config_resource(json.loads((root / config).read_text()), name=config)
    from_file, from_image = statuses([declared]), statuses([built])
    if name == "bad.Dockerfile":
        # An image records no base reference unless labelled; the Dockerfile's FROM ubuntu fails.
        assert from_file.pop("docker-base-image-pinned") is Status.FAIL
        assert from_image.pop("docker-base-image-pinned") is Status.NOT_APPLICABLE
        assert set(from_file.values()) == {Status.FAIL}
    else:
        assert set(from_file.values()) == {Status.PASS}
    assert from_file == from_image


def _oci_config(layout: Path, tag: str) -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_text())
    (desc,) = [
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    ]

    def blob(digest: str) -> dict[str, Any]:
        algorithm, hexdigest = digest.split(":", 1)
        loaded: dict[str, Any] = json.loads((layout / "blobs" / algorithm / hexdigest).read_text())
        return loaded

    return blob(blob(desc["digest"])["config"]["digest"])


def test_real_image_config_matches_its_dockerfile_equivalent(tmp_path: Path, debian_app_image: Any) -> None:
    """The test image (built by tests/support/images.py) as the inventory records it, and a
    Dockerfile declaring the same configuration: same results for every docker policy."""
    config = _oci_config(debian_app_image.layout, debian_app_image.tag)
    history = [h for h in config.get("history", []) if not h.get("empty_layer")]
    artifact = ArtifactInfo(
        name="debian-app",
        type="container_image",
        config=config["config"],
        layers=[
            LayerInfo(i, f"sha256:{i}", created_by=str(h.get("created_by", "")))
            for i, h in enumerate(history)
        ],
    )
    built = image_config_resource(artifact)
    assert built.attributes["RunsAsRoot"] is True  # the test image sets no user
    assert built.attributes["Env"] == [str(e).split("=", 1)[0] for e in config["config"].get("Env", [])]
    env = " ".join(f"{e.split('=', 1)[0]}=x" for e in config["config"].get("Env", []))
    declared = dockerfile(tmp_path, f"FROM debian:12\nENV {env}\nWORKDIR /app\nCMD node\n")
    want = statuses([declared])
    want.pop("docker-base-image-pinned")
    got = statuses([built])
    assert got.pop("docker-base-image-pinned") is Status.NOT_APPLICABLE
    assert got == want
    assert got["docker-user-not-root"] is Status.FAIL and got["docker-healthcheck"] is Status.FAIL
