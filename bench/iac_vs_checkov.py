"""`yamori iac` against Checkov on one generated Terraform, CloudFormation and Kubernetes corpus.

Run with `make bench-iac` (or `.venv/bin/python bench/iac_vs_checkov.py`). Checkov is the named
peer; it is **not** a project dependency: this script keeps its own venv under
`~/.cache/yamori-test/checkov-venv` (`python -m venv` + `pip install checkov`, made once).

What is measured, in one session, on one corpus generated here with a fixed seed:

- 200 Terraform files (40 root modules of 5 files) and 100 CloudFormation templates (YAML and
  JSON), each declaring a realistic mix: S3 buckets (+ versioning / public access block),
  security groups (some open to 0.0.0.0/0 on 22 or 3389), RDS instances (some unencrypted or
  public), KMS keys (some without rotation), CloudTrail trails (some without validation or KMS),
  IAM users with attached policies.
- 100 multi-document Kubernetes manifests: Deployments (some with a privileged container) and
  Services, Roles / ClusterRoles (some with wildcard verbs or resources) with their bindings,
  DaemonSet agents (some mounting the Docker socket through hostPath).
- `checkov -d DIR --framework terraform,cloudformation,kubernetes -o json --quiet` vs
  `yamori iac DIR -f json`: wall time (median of 3 fresh processes each) and peak RSS
  (`/usr/bin/time -v`). The ratio is the figure that carries across machines.
- Findings on equivalent checks: for each pair (Checkov check id ↔ yamori policy id) the number
  of failing resources each tool reports, next to the number the generator planted. Equal
  counts show both tools see the same problems; a difference is explained in RESULTS_iac.md.

Both tools run offline: Checkov with `BC_SKIP_MAPPING=TRUE` and `--skip-download` (it would
otherwise try to reach its platform for guidelines). Each tool first runs once untimed, so both
are measured as installed and used (bytecode compiled, corpus in the page cache), not on a
first-ever start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from sbom_vs_trivy import cpu_model, git_commit, memory_gib  # noqa: E402  (bench/ on the path first)

YAMORI = Path(sys.executable).with_name("yamori")
TIME = Path("/usr/bin/time")
RESULTS = ROOT / "bench" / "RESULTS_iac.md"
CHECKOV_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "yamori-test" / "checkov-venv"
TF_MODULES = 40
TF_FILES_PER_MODULE = 5
CFN_TEMPLATES = 100
K8S_FILES = 100
FRAMEWORKS = "terraform,cloudformation,kubernetes"
RUNS = 3
SEED = 20260101

# (what, Checkov check id, yamori policy ids): checks that ask the same question of the same kind.
# Several yamori ids: a resource fails the row when any of them fails it (yamori splits Checkov's
# "wildcard in a role" into wildcard verbs and wildcard resources).
EQUIVALENT: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("SG open to 0.0.0.0/0 on 22", "CKV_AWS_24", ("aws-ec2-sg-no-public-ipv4-ingress-ssh",)),
    ("SG open to 0.0.0.0/0 on 3389", "CKV_AWS_25", ("aws-ec2-sg-no-public-ipv4-ingress-rdp",)),
    ("RDS storage not encrypted", "CKV_AWS_16", ("aws-rds-instance-storage-encrypted",)),
    ("RDS publicly accessible", "CKV_AWS_17", ("aws-rds-instance-not-public",)),
    ("KMS key rotation off", "CKV_AWS_7", ("aws-kms-cmk-rotation-enabled",)),
    ("CloudTrail log validation off", "CKV_AWS_36", ("aws-cloudtrail-log-file-validation-enabled",)),
    ("CloudTrail not encrypted with KMS", "CKV_AWS_35", ("aws-cloudtrail-kms-encryption",)),
    ("K8s privileged container", "CKV_K8S_16", ("k8s-pss-baseline-privileged",)),
    ("K8s hostPath volume (Docker socket)", "CKV_K8S_27", ("k8s-pss-baseline-host-path-volumes",)),
    ("K8s role with wildcard verbs or resources", "CKV_K8S_49",
     ("k8s-rbac-no-wildcard-verbs", "k8s-rbac-no-wildcard-resources")),
)  # fmt: skip
# Bytecode caching stays on whatever the calling shell says: with PYTHONDONTWRITEBYTECODE a tool
# whose .pyc files are missing or stale would recompile its sources in every timed run.
RUN_ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "BC_SKIP_MAPPING": "TRUE",
    "CHECKOV_NO_OUTPUT_TRUNCATION": "1",
    "LOG_LEVEL": "ERROR",
}


# --- corpus ----------------------------------------------------------------------------------


@dataclass
class Planted:
    """How many resources the generator made failing per equivalent check (ground truth)."""

    counts: Counter[str] = field(default_factory=Counter)
    resources: Counter[str] = field(default_factory=Counter)


def _tf_file(rng: random.Random, prefix: str, planted: Planted) -> str:
    blocks: list[str] = []
    n = prefix.replace("-", "_")
    # S3 bucket with versioning and a public access block
    blocks.append(
        f'resource "aws_s3_bucket" "{n}_data" {{\n  bucket = "acme-{prefix}-data"\n}}\n\n'
        f'resource "aws_s3_bucket_versioning" "{n}_data" {{\n  bucket = aws_s3_bucket.{n}_data.id\n'
        f'  versioning_configuration {{\n    status = "{rng.choice(["Enabled", "Suspended"])}"\n  }}\n}}\n\n'
        f'resource "aws_s3_bucket_public_access_block" "{n}_data" {{\n  bucket = aws_s3_bucket.{n}_data.id\n'
        "  block_public_acls       = true\n  block_public_policy     = true\n"
        "  ignore_public_acls      = true\n  restrict_public_buckets = true\n}\n"
    )
    planted.resources["aws_s3_bucket"] += 1
    # Security group: inline ingress so both tools judge the group itself
    port = rng.choice([22, 22, 3389, 443, 443, 443, 5432])
    cidr = rng.choice(["0.0.0.0/0", "10.0.0.0/8"]) if port != 443 else "0.0.0.0/0"
    if cidr == "0.0.0.0/0" and port == 22:
        planted.counts["CKV_AWS_24"] += 1
    if cidr == "0.0.0.0/0" and port == 3389:
        planted.counts["CKV_AWS_25"] += 1
    blocks.append(
        f'resource "aws_security_group" "{n}_sg" {{\n  name        = "{prefix}-sg"\n'
        f'  description = "{prefix} tier"\n  vpc_id      = "vpc-0123456789abcdef0"\n\n'
        f'  ingress {{\n    description = "service"\n    from_port   = {port}\n    to_port     = {port}\n'
        f'    protocol    = "tcp"\n    cidr_blocks = ["{cidr}"]\n  }}\n}}\n'
    )
    planted.resources["aws_security_group"] += 1
    # RDS
    if rng.random() < 0.6:
        encrypted = rng.random() < 0.6
        public = rng.random() < 0.25
        planted.counts["CKV_AWS_16"] += not encrypted
        planted.counts["CKV_AWS_17"] += public
        blocks.append(
            f'resource "aws_db_instance" "{n}_db" {{\n  identifier          = "{prefix}-db"\n'
            '  engine              = "postgres"\n  instance_class      = "db.t3.micro"\n'
            f"  allocated_storage   = 20\n  storage_encrypted   = {str(encrypted).lower()}\n"
            f"  publicly_accessible = {str(public).lower()}\n}}\n"
        )
        planted.resources["aws_db_instance"] += 1
    # KMS key
    rotation = rng.random() < 0.5
    planted.counts["CKV_AWS_7"] += not rotation
    blocks.append(
        f'resource "aws_kms_key" "{n}_key" {{\n  description         = "{prefix} key"\n'
        f"  enable_key_rotation = {str(rotation).lower()}\n}}\n"
    )
    planted.resources["aws_kms_key"] += 1
    # CloudTrail (one file in five)
    if rng.random() < 0.2:
        validation = rng.random() < 0.5
        kms = rng.random() < 0.5
        planted.counts["CKV_AWS_36"] += not validation
        planted.counts["CKV_AWS_35"] += not kms
        kms_line = f"  kms_key_id                    = aws_kms_key.{n}_key.arn\n" if kms else ""
        blocks.append(
            f'resource "aws_cloudtrail" "{n}_trail" {{\n  name                          = "{prefix}-trail"\n'
            f"  s3_bucket_name                = aws_s3_bucket.{n}_data.id\n"
            "  is_multi_region_trail         = true\n"
            f"  enable_log_file_validation    = {str(validation).lower()}\n{kms_line}}}\n"
        )
        planted.resources["aws_cloudtrail"] += 1
    # IAM user with a directly attached managed policy
    if rng.random() < 0.3:
        blocks.append(
            f'resource "aws_iam_user" "{n}_ci" {{\n  name = "{prefix}-ci"\n}}\n\n'
            f'resource "aws_iam_user_policy_attachment" "{n}_ci" {{\n'
            f"  user       = aws_iam_user.{n}_ci.name\n"
            '  policy_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"\n}\n'
        )
        planted.resources["aws_iam_user"] += 1
    return "\n".join(blocks)


def _cfn_template(rng: random.Random, index: int, planted: Planted) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "Data": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketName": f"acme-stack-{index}-data",
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
            },
        }
    }
    port = rng.choice([22, 22, 3389, 443, 443, 443, 5432])
    cidr = rng.choice(["0.0.0.0/0", "10.0.0.0/8"]) if port != 443 else "0.0.0.0/0"
    planted.counts["CKV_AWS_24"] += cidr == "0.0.0.0/0" and port == 22
    planted.counts["CKV_AWS_25"] += cidr == "0.0.0.0/0" and port == 3389
    resources["Web"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": f"stack {index} web tier",
            "VpcId": "vpc-0123456789abcdef0",
            "SecurityGroupIngress": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "CidrIp": cidr,
                    "Description": "service",
                }
            ],
        },
    }
    if rng.random() < 0.6:
        encrypted = rng.random() < 0.6
        public = rng.random() < 0.25
        planted.counts["CKV_AWS_16"] += not encrypted
        planted.counts["CKV_AWS_17"] += public
        resources["Db"] = {
            "Type": "AWS::RDS::DBInstance",
            "Properties": {
                "DBInstanceIdentifier": f"stack-{index}-db",
                "Engine": "postgres",
                "DBInstanceClass": "db.t3.micro",
                "AllocatedStorage": "20",
                "StorageEncrypted": encrypted,
                "PubliclyAccessible": public,
            },
        }
    rotation = rng.random() < 0.5
    planted.counts["CKV_AWS_7"] += not rotation
    resources["Key"] = {
        "Type": "AWS::KMS::Key",
        "Properties": {
            "Description": f"stack {index}",
            "EnableKeyRotation": rotation,
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ],
            },
        },
    }
    if rng.random() < 0.2:
        validation = rng.random() < 0.5
        kms = rng.random() < 0.5
        planted.counts["CKV_AWS_36"] += not validation
        planted.counts["CKV_AWS_35"] += not kms
        trail: dict[str, Any] = {
            "TrailName": f"stack-{index}-trail",
            "S3BucketName": {"Ref": "Data"},
            "IsLogging": True,
            "IsMultiRegionTrail": True,
            "EnableLogFileValidation": validation,
        }
        if kms:
            trail["KMSKeyId"] = {"Fn::GetAtt": ["Key", "Arn"]}
        resources["Trail"] = {"Type": "AWS::CloudTrail::Trail", "Properties": trail}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}


def _yaml(value: Any, indent: int = 0) -> str:
    """A small block-YAML emitter (JSON scalars are valid YAML) so the corpus has both syntaxes."""
    pad = "  " * indent
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{key}:\n{_yaml(item, indent + 1)}")
            else:
                out.append(f"{pad}{key}: {json.dumps(item)}")
        return "\n".join(out)
    if isinstance(value, list):
        out = []
        for item in value:
            body = _yaml(item, indent + 1).lstrip() if isinstance(item, (dict, list)) else json.dumps(item)
            out.append(f"{pad}- {body}")
        return "\n".join(out)
    return pad + json.dumps(value)


def _k8s_manifests(rng: random.Random, index: int, planted: Planted) -> list[dict[str, Any]]:
    """One application's manifests: a Deployment (one or two containers) and its Service, often
    a Role or ClusterRole with its binding, sometimes a DaemonSet agent.

    Planted problems are shaped so both tools ask the same question: privilege only on the first
    container; hostPath volumes only for the Docker socket (Checkov's CKV_K8S_27 looks at no
    other path, yamori's policy flags any hostPath); wildcards only in a role's first rule and
    never in apiGroups alone (CKV_K8S_49 reads only ``rules[0]`` and also counts apiGroups).
    """
    app = f"app{index:03d}"
    labels = {"app": app}
    privileged = rng.random() < 0.2
    planted.counts["CKV_K8S_16"] += privileged
    containers: list[dict[str, Any]] = [
        {
            "name": "web",
            "image": f"registry.example.com/{app}:1.{index % 7}.0",
            "ports": [{"containerPort": 8080}],
            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
            "securityContext": {"privileged": True} if privileged else {"runAsNonRoot": True},
        }
    ]
    if rng.random() < 0.4:
        containers.append(
            {"name": "sidecar", "image": "registry.example.com/proxy:2.1.0", "args": ["--port", "9090"]}
        )
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": app, "namespace": "shop", "labels": labels},
            "spec": {
                "replicas": rng.choice([1, 2, 3]),
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": app, "namespace": "shop"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    ]
    planted.resources["k8s workload"] += 1
    if rng.random() < 0.6:
        kind = rng.choice(["Role", "ClusterRole"])
        verbs = ["*"] if rng.random() < 0.3 else ["get", "list", "watch"]
        resources = ["*"] if rng.random() < 0.2 else ["configmaps", "pods"]
        planted.counts["CKV_K8S_49"] += verbs == ["*"] or resources == ["*"]
        meta: dict[str, Any] = {"name": f"{app}-reader"}
        if kind == "Role":
            meta["namespace"] = "shop"
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": kind,
                "metadata": meta,
                "rules": [
                    {"apiGroups": [""], "resources": resources, "verbs": verbs},
                    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
                ],
            }
        )
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": f"{kind}Binding",
                "metadata": dict(meta),
                "subjects": [{"kind": "ServiceAccount", "name": app, "namespace": "shop"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": meta["name"]},
            }
        )
        planted.resources["k8s role"] += 1
    if rng.random() < 0.3:
        socket = rng.random() < 0.5
        planted.counts["CKV_K8S_27"] += socket
        volume: dict[str, Any] = (
            {"name": "docker", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}}
            if socket
            else {"name": "scratch", "emptyDir": {}}
        )
        agent = {"app": f"{app}-agent"}
        docs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": f"{app}-agent", "namespace": "shop"},
                "spec": {
                    "selector": {"matchLabels": agent},
                    "template": {
                        "metadata": {"labels": agent},
                        "spec": {
                            "containers": [
                                {
                                    "name": "agent",
                                    "image": "registry.example.com/agent:3.0.1",
                                    "volumeMounts": [{"name": volume["name"], "mountPath": "/host"}],
                                }
                            ],
                            "volumes": [volume],
                        },
                    },
                },
            }
        )
        planted.resources["k8s workload"] += 1
    return docs


def generate(root: Path) -> Planted:
    rng = random.Random(SEED)
    planted = Planted()
    for m in range(TF_MODULES):
        module = root / "terraform" / f"svc{m:02d}"
        module.mkdir(parents=True)
        for f in range(TF_FILES_PER_MODULE):
            (module / f"part{f}.tf").write_text(_tf_file(rng, f"svc{m:02d}-p{f}", planted))
    stacks = root / "cloudformation"
    stacks.mkdir()
    for i in range(CFN_TEMPLATES):
        template = _cfn_template(rng, i, planted)
        if i % 2:
            (stacks / f"stack{i:03d}.json").write_text(json.dumps(template, indent=2))
        else:
            (stacks / f"stack{i:03d}.yaml").write_text(_yaml(template) + "\n")
    manifests = root / "kubernetes"
    manifests.mkdir()
    for i in range(K8S_FILES):
        docs = _k8s_manifests(rng, i, planted)
        (manifests / f"app{i:03d}.yaml").write_text("".join(f"---\n{_yaml(d)}\n" for d in docs))
    return planted


# --- tools -----------------------------------------------------------------------------------


def checkov_binary() -> Path:
    """Checkov in its own cached venv (made on first use; never a project dependency)."""
    binary = CHECKOV_VENV / "bin" / "checkov"
    if binary.exists():
        return binary
    print(f"creating {CHECKOV_VENV} and installing checkov (once)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
    proc = subprocess.run(
        [str(CHECKOV_VENV / "bin" / "pip"), "install", "-q", "checkov"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not binary.exists():
        raise SystemExit(f"pip install checkov failed:\n{proc.stderr[-3000:]}")
    return binary


def checkov_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False, env=RUN_ENV)
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


@dataclass
class Run:
    wall: float
    rss_kib: int


def measure(label: str, cmd: list[str], out: Path, ok: tuple[int, ...]) -> Run:
    """One fresh process under /usr/bin/time -v; stdout to ``out``; wall from our clock."""
    start = time.perf_counter()
    with out.open("w") as handle:
        proc = subprocess.run(
            [str(TIME), "-v", *cmd], stdout=handle, stderr=subprocess.PIPE, text=True, env=RUN_ENV
        )
    wall = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{label}: {' '.join(cmd)} exited {proc.returncode}\n{proc.stderr[-3000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if not match:
        raise SystemExit(f"{label}: no RSS from /usr/bin/time:\n{proc.stderr[-2000:]}")
    return Run(wall, int(match.group(1)))


def checkov_failures(path: Path) -> tuple[Counter[str], int]:
    """Failing (file, resource) pairs per check id, and the resources Checkov counted."""
    doc = json.loads(path.read_text())
    reports = doc if isinstance(doc, list) else [doc]
    failing: dict[str, set[tuple[str, str]]] = {}
    resources = 0
    for report in reports:
        resources += int(report.get("summary", {}).get("resource_count", 0))
        for check in report.get("results", {}).get("failed_checks", []):
            failing.setdefault(check["check_id"], set()).add((check["file_path"], check["resource"]))
    return Counter({k: len(v) for k, v in failing.items()}), resources


def yamori_failures(path: Path) -> tuple[dict[str, set[str]], int, int]:
    """Failing resources per policy id (sets, so rows over several policies can be unions), the
    resources yamori counted and its UNKNOWN results."""
    doc = json.loads(path.read_text())
    failing: dict[str, set[str]] = {}
    unknown: Counter[str] = Counter()
    for f in doc["findings"]:
        if f["status"] == "FAIL":
            failing.setdefault(f["rule_id"], set()).add(f["resource"])
        elif f["status"] == "UNKNOWN":
            unknown[f["rule_id"]] += 1
    return failing, int(doc["scan"]["resources"]), sum(unknown.values())


def yamori_row(failing: dict[str, set[str]], policies: tuple[str, ...]) -> int:
    """Resources failing any of ``policies``."""
    return len(set().union(*(failing.get(p, set()) for p in policies)))


# --- report ----------------------------------------------------------------------------------


def write_results(
    series: dict[str, list[Run]],
    planted: Planted,
    checkov: Counter[str],
    yamori: dict[str, set[str]],
    counts: dict[str, int],
    version: str,
    load: float,
) -> str:
    wall = {k: statistics.median(r.wall for r in v) for k, v in series.items()}
    rss = {k: max(r.rss_kib for r in v) / 1024 for k, v in series.items()}
    tf_files = TF_MODULES * TF_FILES_PER_MODULE
    tf = {k: v for k, v in planted.resources.items() if k.startswith("aws_")}
    k8s = planted.resources
    lines = [
        "# IaC scanning: yamori vs Checkov",
        "",
        f"Date {datetime.now(UTC).strftime('%Y-%m-%d')}, commit `{git_commit()}`, {cpu_model()}, "
        f"{os.cpu_count()} CPUs, {memory_gib():.0f} GiB, Python {platform.python_version()}, {version}.",
        "Run: `make bench-iac` (`bench/iac_vs_checkov.py`).",
        f"1-minute load average when the run started: {load:.2f} ("
        + (
            "above the CPU count: the machine was shared and absolute times are inflated"
            if load > (os.cpu_count() or 1)
            else "other jobs, if any, were using part of the CPUs"
        )
        + "; compare the ratio).",
        "",
        f"Corpus (generated, seed {SEED}): {tf_files} Terraform files in {TF_MODULES} root modules, "
        f"{CFN_TEMPLATES} CloudFormation templates (half YAML, half JSON) declaring S3 buckets, security "
        "groups, RDS instances, KMS keys, CloudTrail trails and IAM users "
        f"({', '.join(f'{k} {v}' for k, v in sorted(tf.items()))} in Terraform alone), and "
        f"{K8S_FILES} multi-document Kubernetes manifests (Deployments with their Services, Roles and "
        f"ClusterRoles with bindings, DaemonSet agents: {k8s['k8s workload']} workloads, "
        f"{k8s['k8s role']} roles) with planted privileged containers, Docker-socket hostPath "
        "volumes and wildcard RBAC rules.",
        "",
        "## Time and memory",
        "",
        f"Median of {len(series['yamori'])} fresh processes each (after one untimed warm-up run of "
        "each tool), same session, runs interleaved; peak RSS from `/usr/bin/time -v`.",
        "",
        "| tool | command | wall (median) | peak RSS | resources seen |",
        "|---|---|---:|---:|---:|",
        f"| Checkov | `checkov -d DIR --framework {FRAMEWORKS} -o json --quiet --skip-download` "
        f"| {wall['checkov']:.2f} s | {rss['checkov']:.0f} MiB | {counts['checkov']} |",
        f"| yamori | `yamori iac DIR -f json -q` | {wall['yamori']:.2f} s | {rss['yamori']:.0f} MiB "
        f"| {counts['yamori']} |",
        "",
        f"**Ratio (Checkov / yamori): wall {wall['checkov'] / wall['yamori']:.2f}x, "
        f"peak RSS {rss['checkov'] / rss['yamori']:.2f}x** (above 1: yamori is faster / smaller).",
        "",
        "Resources are counted differently: Checkov counts every block (a bucket's versioning and "
        "public access block are three resources); yamori folds companions into the resource they "
        "configure (one `aws.s3.bucket`), as the live API shows it.",
        "",
        "## Same problems seen",
        "",
        "Failing resources per equivalent check, against what the generator planted.",
        "",
        "| check | Checkov id | yamori policy | planted | Checkov | yamori |",
        "|---|---|---|---:|---:|---:|",
    ]
    for what, ckv, policies in EQUIVALENT:
        counts_row = f"{planted.counts[ckv]} | {checkov.get(ckv, 0)} | {yamori_row(yamori, policies)}"
        shown = " + ".join(f"`{p}`" for p in policies)
        lines.append(f"| {what} | {ckv} | {shown} | {counts_row} |")
    agree = all(checkov.get(c, 0) == yamori_row(yamori, p) == planted.counts[c] for _, c, p in EQUIVALENT)
    lines += [
        "",
        "Both tools find exactly the planted problems on every equivalent check."
        if agree
        else "Where a count differs from the planted one, see the notes below.",
        "",
        f"yamori also reported {counts['yamori_unknown']} UNKNOWN results (account-level CIS checks "
        "that code alone cannot refute, values left to AWS), which never fail its gate.",
        "",
    ]
    return "\n".join(lines) + "\n"


def _notes(path: Path) -> str:
    """The hand-written ``## Notes`` section of the previous results, kept across re-runs (it
    explains the figures; the script cannot regenerate it)."""
    try:
        previous = path.read_text()
    except OSError:
        return ""
    at = previous.find("\n## Notes")
    return "\n" + previous[at:].lstrip("\n") if at >= 0 else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--no-write", action="store_true", help="Print the results instead of writing them.")
    args = parser.parse_args(argv)
    binary = checkov_binary()
    load = os.getloadavg()[0]
    version = f"Checkov {checkov_version(binary)}"
    with tempfile.TemporaryDirectory(prefix="yamori-bench-iac-") as tmp:
        corpus = Path(tmp) / "corpus"
        planted = generate(corpus)
        commands = {
            "checkov": (
                [str(binary), "-d", str(corpus), "--framework", FRAMEWORKS,
                 "-o", "json", "--quiet", "--skip-download"],
                (0, 1),
            ),
            "yamori": ([str(YAMORI), "iac", str(corpus), "-f", "json", "-q"], (0, 1)),
        }  # fmt: skip
        series: dict[str, list[Run]] = {name: [] for name in commands}
        outputs = {name: Path(tmp) / f"{name}.json" for name in commands}
        for name, (cmd, ok) in commands.items():  # untimed: .pyc files written, files cached
            run = measure(name, cmd, outputs[name], ok)
            print(f"warm-up {name}: {run.wall:.2f} s (not counted)", flush=True)
        for i in range(args.runs):
            for name, (cmd, ok) in commands.items():  # interleaved: both see the same machine state
                run = measure(name, cmd, outputs[name], ok)
                series[name].append(run)
                print(f"run {i + 1} {name}: {run.wall:.2f} s, {run.rss_kib / 1024:.0f} MiB", flush=True)
        checkov, checkov_resources = checkov_failures(outputs["checkov"])
        yamori, yamori_resources, unknown = yamori_failures(outputs["yamori"])
    text = write_results(
        series,
        planted,
        checkov,
        yamori,
        {"checkov": checkov_resources, "yamori": yamori_resources, "yamori_unknown": unknown},
        version,
        load,
    )
    if args.no_write:
        print(text)
    else:
        RESULTS.write_text(text + _notes(RESULTS))
        print(text)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
