"""Kubernetes adapter: documents, lists, pod specs per workload kind, lines, charts, overlays,
bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from yamori.sources.iac import adapter, scan
from yamori.sources.iac.kubernetes import POD_SPEC_PATHS, resource_id, workload_view

K8S = adapter("kubernetes")
FIXTURES = Path(__file__).parent.parent / "fixtures" / "iac-k8s"


def load(path: Path, root: Path = FIXTURES):  # type: ignore[no-untyped-def]
    return K8S.load(path, root=root)


def test_every_workload_kind_has_its_pod_spec_found() -> None:
    result = load(FIXTURES / "workloads.yaml")
    assert result.errors == []
    by_kind = {r.kind: r for r in result.resources}
    assert set(by_kind) == {f"k8s.{k.lower()}" for k in POD_SPEC_PATHS}
    for kind in POD_SPEC_PATHS:
        res = by_kind[f"k8s.{kind.lower()}"]
        (container,) = res.attributes["podContainers"]
        # Each fixture's image names its kind: the pod spec came from that kind's own path.
        assert container["image"] == f"example/{kind.lower()}:1"
        assert res.attributes["podSpec"]["containers"][0]["image"] == container["image"]
        assert container["imageRef"] == {"image": f"example/{kind.lower()}", "tag": "1", "digest": ""}
        assert res.id == f"{kind}/apps/{kind.lower()}"
        assert res.source == "kubernetes"


def test_lines_and_origins_come_from_yaml_marks() -> None:
    result = load(FIXTURES / "workloads.yaml")
    deployment = next(r for r in result.resources if r.kind == "k8s.deployment")
    cronjob = next(r for r in result.resources if r.kind == "k8s.cronjob")
    assert deployment.location == "workloads.yaml:12"
    assert deployment.origins["spec.template.spec.containers[0].image"] == "workloads.yaml:25"
    # The normalised attributes point at the same lines as the paths they mirror.
    assert deployment.origins["podSpec.containers[0].image"] == "workloads.yaml:25"
    assert deployment.origins["podContainers[0].image"] == "workloads.yaml:25"
    assert cronjob.origins["podContainers[0].image"] == "workloads.yaml:79"


def test_manifest_attributes_are_kept_as_written() -> None:
    (deployment,) = [r for r in load(FIXTURES / "workloads.yaml").resources if r.kind == "k8s.deployment"]
    attrs = deployment.attributes
    assert attrs["apiVersion"] == "apps/v1"
    assert attrs["spec"]["selector"] == {"matchLabels": {"app": "deployment"}}
    assert attrs["podMetadata"] == {"labels": {"app": "deployment"}}


def test_json_list_kinds_namespaces_and_secret_redaction() -> None:
    result = load(FIXTURES / "cluster.json")
    assert result.errors == []
    ids = {r.id: r for r in result.resources}
    assert set(ids) == {
        "Namespace/apps",
        "ServiceAccount/apps/web",
        "ClusterRole/reader",
        "ClusterRoleBinding/ops-admin",
        "Secret/apps/db",
    }
    assert ids["ClusterRole/reader"].kind == "k8s.clusterrole"
    assert ids["ClusterRole/reader"].location == "cluster.json:7"
    assert ids["Secret/apps/db"].attributes["stringData"] == {"password": "<redacted>"}
    assert "hunter2" not in str(ids["Secret/apps/db"].to_json())


def test_services_ingress_network_policy_rbac() -> None:
    result = load(FIXTURES / "network.yaml")
    kinds = sorted(r.kind for r in result.resources)
    assert kinds == ["k8s.ingress", "k8s.networkpolicy", "k8s.role", "k8s.rolebinding", "k8s.service"]


def test_namespace_defaults_and_cluster_scope() -> None:
    assert resource_id("Deployment", "web", None) == "Deployment/default/web"
    assert resource_id("ClusterRoleBinding", "x", "ignored") == "ClusterRoleBinding/x"


def test_effective_security_context_inherits_from_the_pod() -> None:
    manifest = {
        "metadata": {
            "name": "p",
            "annotations": {"container.apparmor.security.beta.kubernetes.io/b": "localhost/prof"},
        },
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {"name": "a", "image": "a", "securityContext": {"runAsNonRoot": False}},
                {"name": "b", "image": "b@sha256:" + "0" * 64},
            ],
            "initContainers": [{"name": "i", "image": "reg:5000/i"}],
        },
    }
    view = workload_view("Pod", manifest)
    a, b, i = view["podContainers"]
    assert a["effective"] == {"runAsNonRoot": False, "seccompProfileType": "RuntimeDefault"}
    assert b["effective"]["runAsNonRoot"] is True
    assert b["effective"]["appArmorProfileType"] == "Localhost"
    assert b["imageRef"]["digest"] == "sha256:" + "0" * 64
    assert i["containerType"] == "initContainer"
    assert i["imageRef"] == {"image": "reg:5000/i", "tag": "", "digest": ""}
    assert view["podAppArmorAnnotations"] == ["localhost/prof"]
    assert workload_view("Service", {"spec": {}}) == {}


def test_invalid_yaml_keeps_the_documents_before_it() -> None:
    result = load(FIXTURES / "invalid.yaml")
    assert [r.id for r in result.resources] == ["ConfigMap/default/ok"]
    (error,) = result.errors
    assert str(error).startswith("invalid.yaml: invalid YAML:")
    assert "(line 9)" in str(error)


def test_document_without_kind_is_one_error() -> None:
    result = load(FIXTURES / "nokind.yaml")
    assert [str(e) for e in result.errors] == ["nokind.yaml:1: document has no kind; skipped"]
    assert [r.id for r in result.resources] == ["ConfigMap/default/fine"]


def test_huge_manifest_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    line = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n"
    big.write_text(line + "".join(f"  k{i}: {'v' * 100}\n" for i in range(100_000)))
    assert big.stat().st_size > 10 * 1024 * 1024
    result = load(big, tmp_path)
    (error,) = result.errors
    assert "over the 10485760-byte limit" in str(error)
    assert result.resources == []


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata: {name: bomb}",
        "a0: &a0 [x, x, x, x, x, x, x, x, x, x]",
    ]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    result = load(tmp_path / "bomb.yaml", tmp_path)
    (error,) = result.errors
    assert "refused" in str(error)


def test_symlink_outside_the_root_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: secret}\n")
    root = tmp_path / "repo"
    root.mkdir()
    (root / "cm.yaml").symlink_to(outside)
    result = scan(root, only=["kubernetes"])
    assert result.resources == []
    assert [str(e) for e in result.errors] == [
        "cm.yaml: symlink points outside the scanned directory; not followed"
    ]


def test_non_manifests_are_not_claimed(tmp_path: Path) -> None:
    (tmp_path / "ci.yaml").write_text("jobs:\n  build:\n    kind: x\n    apiVersion: y\n")
    (tmp_path / "kubeconfig.yaml").write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    result = scan(tmp_path, only=["kubernetes"])
    assert result.resources == [] and result.errors == []


def test_helm_chart_without_helm_is_one_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither helm nor kubectl
    result = scan(FIXTURES, only=["kubernetes"])
    assert "chart: Helm chart not rendered: helm is not installed (install helm)" in [
        str(w) for w in result.warnings
    ]
    assert (
        "kustomize/overlays/prod: kustomize overlay not rendered: kubectl is not installed (install kubectl)"
        in [str(w) for w in result.warnings]
    )
    # Chart templates are never parsed as manifests; without kubectl the base is read raw.
    ids = {r.id for r in result.resources}
    assert "Deployment/default/api" in ids
    assert not any("demo" in i for i in ids)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_overlay_is_rendered_by_kubectl() -> None:
    result = scan(FIXTURES, only=["kubernetes"])
    by_id = {r.id: r for r in result.resources}
    # The overlay renders the base (namespace and prefix applied); the base is not reported twice.
    assert "Deployment/prod/prod-api" in by_id
    assert "Deployment/default/api" not in by_id
    rendered = by_id["Deployment/prod/prod-api"]
    assert rendered.location == "kustomize/overlays/prod/kustomization.yaml"
    assert rendered.attributes["podContainers"][0]["image"] == "example/api:2.0"
    assert not any("kustomize" in str(e) for e in result.errors)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_remote_or_escaping_bases_are_not_rendered(tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "kustomization.yaml").write_text("resources:\n  - https://github.com/x/y//base?ref=v1\n")
    escaping = tmp_path / "escaping"
    escaping.mkdir()
    (escaping / "kustomization.yaml").write_text("resources:\n  - ../../outside\n")
    result = scan(tmp_path, only=["kubernetes"])
    warnings = sorted(str(w) for w in result.warnings)
    assert warnings == [
        "escaping: kustomize overlay not rendered: '../../outside' is outside the scanned directory",
        "remote: kustomize overlay not rendered: "
        "remote base 'https://github.com/x/y//base?ref=v1' is not fetched",
    ]


def test_helm_chart_output_dir_is_parsed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """helm is not packaged in Debian, so a stand-in on PATH writes what ``helm template
    --output-dir`` writes (one file per template); the adapter's side is what is under test."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "helm"
    stand_in.write_text(
        "#!/bin/sh\n"
        'test "$1" = template || exit 3\n'
        'out="$5"; mkdir -p "$out/demo/templates"\n'
        "cat > \"$out/demo/templates/deployment.yaml\" <<'EOF'\n"
        "---\n# Source: demo/templates/deployment.yaml\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: chart-demo\n"
        "spec:\n  template:\n    spec:\n      containers:\n        - name: demo\n"
        "          image: example/demo:1.0\n"
        "EOF\n"
    )
    stand_in.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    result = scan(FIXTURES, only=["kubernetes"])
    (deployment,) = [r for r in result.resources if r.id == "Deployment/default/chart-demo"]
    assert deployment.location == "chart/templates/deployment.yaml"
    assert deployment.attributes["podContainers"][0]["image"] == "example/demo:1.0"
    assert not [w for w in result.warnings if "Helm" in str(w)]


def test_helm_failure_is_one_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "helm").write_text("#!/bin/sh\necho 'Error: parse error in deployment.yaml' >&2\nexit 1\n")
    (bin_dir / "helm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    result = K8S.load(FIXTURES / "chart", root=FIXTURES)
    assert [str(e) for e in result.errors] == [
        "chart: Helm chart not rendered: helm failed: Error: parse error in deployment.yaml"
    ]
