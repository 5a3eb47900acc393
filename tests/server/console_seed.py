"""Realistic console data stored through the store's own ingestion functions: two images with
vulnerabilities (KEV, EPSS, fixes, an XSS payload), a posture scan mapped to CIS controls that is
then partly fixed by a second scan, and Falco alerts from a Kubernetes cluster."""

from __future__ import annotations

from typing import Any

from server.payloads import image_scan, posture_finding, posture_scan, vuln_finding, workload, workload_report
from yamori.store import Store
from yamori.store.ingest import ingest_alerts, ingest_image_scan, ingest_posture_scan, ingest_workloads
from yamori.store.payloads import AlertPayload, ImageScanPayload, PostureScanPayload, WorkloadReportPayload

WEB = "registry.example/shop/web:1.4"
API = "registry.example/shop/api:2.0"
XSS_TITLE = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
XSS_PACKAGE = "<b>evil-pkg</b>"
WEB_CONTAINER = "5eb0" + "1" * 60  # the workload running WEB; its alerts carry the first 12 digits
XSS_WORKLOAD = "<script>window.__xss = 4</script>evil"
XSS_LABEL = '<img src=x onerror="window.__xss = 5">'


def _vuln(image: str, cve: str, package: str, severity: str, epss: float, **extra: Any) -> dict[str, Any]:
    finding = vuln_finding(image, cve, package, severity, **extra)
    finding["vulnerability"]["epss_score"] = epss
    finding["description"] = f"{cve}: a flaw in {package}."
    finding["remediation"] = f"Upgrade {package} to a fixed version."
    return finding


def image_findings(image: str) -> list[dict[str, Any]]:
    return [
        _vuln(image, "CVE-2024-3094", "xz-utils", "CRITICAL", 0.86, kev=True, risk=9.8),
        _vuln(image, "CVE-2023-4863", "libwebp7", "CRITICAL", 0.71, risk=9.0),
        _vuln(image, "CVE-2023-44487", "libnghttp2-14", "HIGH", 0.52, kev=True, risk=7.5),
        _vuln(image, "CVE-2024-0727", "openssl", "MEDIUM", 0.01, fixed_versions=[], risk=4.0),
        _vuln(image, "CVE-2023-50495", "ncurses-base", "LOW", 0.0, fixed_versions=[], risk=1.0),
    ]


def _control(
    rule: str, resource: str, severity: str, refs: list[str], remediation: str, **kw: Any
) -> dict[str, Any]:
    finding = posture_finding(rule, resource, severity=severity, **kw)
    finding["compliance"] = refs
    finding["remediation"] = remediation
    return finding


def posture_findings(fixed: bool) -> list[dict[str, Any]]:
    """The first scan fails everything; the second (``fixed``) passes the logs bucket."""
    return [
        _control(
            "aws.s3.public_access",
            "arn:aws:s3:::shop-public-assets",
            "CRITICAL",
            ["cis-aws-3.0:2.1.4"],
            "Enable S3 Block Public Access on the bucket.",
        ),
        _control(
            "aws.s3.public_access",
            "arn:aws:s3:::shop-logs",
            "CRITICAL",
            ["cis-aws-3.0:2.1.4"],
            "Enable S3 Block Public Access on the bucket.",
            status="PASS" if fixed else "FAIL",
        ),
        _control(
            "aws.iam.root_mfa",
            "arn:aws:iam::123456789012:root",
            "HIGH",
            ["cis-aws-3.0:1.5"],
            "Enable MFA on the root user.",
        ),
        _control(
            "aws.ec2.sg_ssh_open",
            "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0a1b2c",
            "HIGH",
            ["cis-aws-3.0:5.2", "nist-800-53:SC-7"],
            "Remove 0.0.0.0/0 from port 22.",
        ),
        _control(
            "aws.iam.password_policy",
            "arn:aws:iam::123456789012:account",
            "MEDIUM",
            ["cis-aws-3.0:1.8"],
            "Require 14+ character passwords.",
        ),
    ]


def alert(
    rule: str,
    priority: str,
    container: str,
    namespace: str,
    output: str,
    second: int,
    container_id: str | None = None,
) -> AlertPayload:
    return AlertPayload.model_validate(
        {
            "time": f"2030-01-01T10:00:{second:02d}.123456789Z",
            "rule": rule,
            "priority": priority,
            "source": "syscall",
            "hostname": "node-1",
            "output": output,
            "output_fields": {
                "container.name": container,
                "container.id": container_id or f"{container[:6]}0001",
                "k8s.ns.name": namespace,
                "k8s.pod.name": f"{container}-7d9f",
            },
            "tags": ["container", "mitre_execution"],
        }
    )


def workloads() -> dict[str, Any]:
    """node-1's containers: the shop's web pod running WEB (matched by digest), and a privileged
    debug container with script in its name and labels, whose image was never scanned."""
    return workload_report(
        "node-1",
        [
            workload(
                WEB_CONTAINER,
                "k8s_web_web-7d9f_shop",
                WEB,
                image_digest="sha256:" + "ab" * 32,
                labels={
                    "io.kubernetes.pod.namespace": "shop",
                    "io.kubernetes.pod.name": "web-7d9f",
                    "io.kubernetes.container.name": "web",
                    "app": "web",
                },
                command=["nginx", "-g", "daemon off;"],
            ),
            workload(
                "dead" + "2" * 60,
                XSS_WORKLOAD,
                "registry.example/tools/debug:latest",
                privileged=True,
                labels={"note": XSS_LABEL},
            ),
        ],
    )


def seed(store: Store) -> None:
    with store.session() as session:
        for image in (WEB, API):
            findings = image_findings(image)
            if image == WEB:
                findings.append(_vuln(image, "CVE-2099-0001", XSS_PACKAGE, "HIGH", 0.3, title=XSS_TITLE))
            ingest_image_scan(session, ImageScanPayload.model_validate(image_scan(image, findings, 6)), "ci")
        ingest_posture_scan(
            session, PostureScanPayload.model_validate(posture_scan(posture_findings(False))), "ci"
        )
        ingest_posture_scan(
            session, PostureScanPayload.model_validate(posture_scan(posture_findings(True))), "ci"
        )
        ingest_workloads(session, WorkloadReportPayload.model_validate(workloads()), "node-1-agent")
        ingest_alerts(
            session,
            [
                alert(
                    "Terminal shell in container",
                    "Notice",
                    "web",
                    "shop",
                    "A shell was spawned in a container (user=root shell=bash)",
                    1,
                ),
                alert("Write below etc", "Error", "api", "shop", "File below /etc opened for writing", 2),
                alert(
                    "Drop and execute new binary in container",
                    "Warning",
                    "web",
                    "shop",
                    "Executable /tmp/x not in the image was run (proc=x)",
                    4,
                    container_id=WEB_CONTAINER[:12],
                ),
                alert(
                    "Read sensitive file untrusted",
                    "Warning",
                    "batch",
                    "jobs",
                    "Sensitive file opened <script>window.__xss = 3</script>",
                    3,
                ),
            ],
        )
