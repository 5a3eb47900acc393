"""Payloads in the shapes the CLI prints (``yamori image|cloud aws|detect -f json``), made small."""

from __future__ import annotations

from typing import Any


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def vuln_finding(image: str, cve: str, package: str, severity: str = "HIGH", **extra: Any) -> dict[str, Any]:
    """A vulnerability finding as ``yamori image -f json`` prints it (the fields the store reads)."""
    vulnerability = {
        "id": cve,
        "aliases": [],
        "package_name": package,
        "package_type": "deb",
        "installed_version": "1.0",
        "purl": f"pkg:deb/debian/{package}@1.0",
        "fixed_versions": extra.pop("fixed_versions", ["1.1"]),
        "fix_state": "fixed",
        "kev": extra.pop("kev", False),
        "risk": extra.pop("risk", 5.0),
    }
    return {
        "kind": "vulnerability",
        "rule_id": cve,
        "title": extra.pop("title", f"{cve} in {package}"),
        "severity": severity,
        "status": "OPEN",
        "resource": image,
        "sub_key": f"pkg:deb/debian/{package}@1.0",
        "evidence": {},
        "vulnerability": vulnerability,
        **extra,
    }


def image_scan(image: str, findings: list[dict[str, Any]], packages: int = 3) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "tool": {"name": "yamori", "version": "test"},
        "artifact": {"name": image, "type": "container_image", "digest": "sha256:" + "ab" * 32},
        "os": {"family": "debian", "version": "12"},
        "packages": [
            {
                "name": f"pkg{i}",
                "version": "1.0",
                "type": "deb",
                "purl": f"pkg:deb/debian/pkg{i}@1.0",
                "layer_digest": "sha256:" + "cd" * 32,
                "layer_index": 0,
            }
            for i in range(packages)
        ],
        "findings": findings,
        "errors": [],
        "warnings": [],
    }


def posture_finding(
    rule: str, resource: str, status: str = "FAIL", severity: str = "MEDIUM"
) -> dict[str, Any]:
    return {
        "kind": "misconfiguration",
        "rule_id": rule,
        "title": f"{rule} on {resource}",
        "severity": severity,
        "status": status,
        "resource": resource,
        "account": "123456789012",
        "region": "eu-west-1",
        "evidence": {"attribute": "value"},
    }


def posture_scan(findings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "scan": {"provider": "aws", "accounts": ["123456789012"], "regions": ["eu-west-1"]},
        "summary": {},
        "findings": findings,
        "warnings": [],
    }


def workload(
    cid: str, name: str, image: str, *, image_id: str = "", privileged: bool = False, **extra: Any
) -> dict[str, Any]:
    """One container as ``yamori workloads -f json`` prints it."""
    labels = extra.pop("labels", {})
    return {
        "id": cid,
        "name": name,
        "image": image,
        "image_id": image_id,
        "image_digest": "",
        "state": "running",
        "privileged": privileged,
        "labels": labels,
        "namespace": labels.get("io.kubernetes.pod.namespace", ""),
        "pod": labels.get("io.kubernetes.pod.name", ""),
        "k8s_container": labels.get("io.kubernetes.container.name", ""),
        **extra,
    }


def workload_report(host: str, workloads: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": 1, "host": host, "runtime": "podman", "workloads": workloads}
