"""`yamori iac` against Checkov on the same generated Terraform + CloudFormation corpus.

Run with `make bench-iac` (or `.venv/bin/python bench/iac_vs_checkov.py`). Checkov is the named
peer; it is **not** a project dependency: this script keeps its own venv under
`~/.cache/yamori-test/checkov-venv` (`python -m venv` + `pip install checkov`, made once).

What is measured, in one session, on one corpus generated here with a fixed seed:

- 200 Terraform files (40 root modules of 5 files) and 100 CloudFormation templates (YAML and
  JSON), each declaring a realistic mix: S3 buckets (+ versioning / public access block),
  security groups (some open to 0.0.0.0/0 on 22 or 3389), RDS instances (some unencrypted or
  public), KMS keys (some without rotation), CloudTrail trails (some without validation or KMS),
  IAM users with attached policies.
- `checkov -d DIR --framework terraform,cloudformation -o json --quiet` vs
  `yamori iac DIR -f json`: wall time (median of 3 fresh processes each) and peak RSS
  (`/usr/bin/time -v`). The ratio is the figure that carries across machines.
- Findings on equivalent checks: for each pair (Checkov check id ↔ yamori policy id) the number
  of failing resources each tool reports, next to the number the generator planted. Equal
  counts show both tools see the same problems; a difference is explained in RESULTS_iac.md.

Both tools run offline: Checkov with `BC_SKIP_MAPPING=TRUE` and `--skip-download` (it would
otherwise try to reach its platform for guidelines).
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
RUNS = 3
SEED = 20260101

# (what, Checkov check id, yamori policy id): checks that ask the same question of the same kind.
EQUIVALENT = (
    ("SG open to 0.0.0.0/0 on 22", "CKV_AWS_24", "aws-ec2-sg-no-public-ipv4-ingress-ssh"),
    ("SG open to 0.0.0.0/0 on 3389", "CKV_AWS_25", "aws-ec2-sg-no-public-ipv4-ingress-rdp"),
    ("RDS storage not encrypted", "CKV_AWS_16", "aws-rds-instance-storage-encrypted"),
    ("RDS publicly accessible", "CKV_AWS_17", "aws-rds-instance-not-public"),
    ("KMS key rotation off", "CKV_AWS_7", "aws-kms-cmk-rotation-enabled"),
    ("CloudTrail log validation off", "CKV_AWS_36", "aws-cloudtrail-log-file-validation-enabled"),
    ("CloudTrail not encrypted with KMS", "CKV_AWS_35", "aws-cloudtrail-kms-encryption"),
)
RUN_ENV = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_TRUNCATION": "1", "LOG_LEVEL": "ERROR"}


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


def yamori_failures(path: Path) -> tuple[Counter[str], int, int]:
    doc = json.loads(path.read_text())
    failing: dict[str, set[str]] = {}
    unknown: Counter[str] = Counter()
    for f in doc["findings"]:
        if f["status"] == "FAIL":
            failing.setdefault(f["rule_id"], set()).add(f["resource"])
        elif f["status"] == "UNKNOWN":
            unknown[f["rule_id"]] += 1
    return (
        Counter({k: len(v) for k, v in failing.items()}),
        int(doc["scan"]["resources"]),
        sum(unknown.values()),
    )


# --- report ----------------------------------------------------------------------------------


def write_results(
    series: dict[str, list[Run]],
    planted: Planted,
    checkov: Counter[str],
    yamori: Counter[str],
    counts: dict[str, int],
    version: str,
    load: float,
) -> str:
    wall = {k: statistics.median(r.wall for r in v) for k, v in series.items()}
    rss = {k: max(r.rss_kib for r in v) / 1024 for k, v in series.items()}
    tf_files = TF_MODULES * TF_FILES_PER_MODULE
    lines = [
        "# IaC scanning: yamori vs Checkov",
        "",
        f"Date {datetime.now(UTC).strftime('%Y-%m-%d')}, commit `{git_commit()}`, {cpu_model()}, "
        f"{os.cpu_count()} CPUs, {memory_gib():.0f} GiB, Python {platform.python_version()}, {version}.",
        "Run: `make bench-iac` (`bench/iac_vs_checkov.py`).",
        f"1-minute load average when the run started: {load:.2f} (above the CPU count, the machine "
        "was shared and absolute times are inflated; compare the ratio).",
        "",
        f"Corpus (generated, seed {SEED}): {tf_files} Terraform files in {TF_MODULES} root modules and "
        f"{CFN_TEMPLATES} CloudFormation templates (half YAML, half JSON) declaring S3 buckets, security "
        "groups, RDS instances, KMS keys, CloudTrail trails and IAM users "
        f"({', '.join(f'{k} {v}' for k, v in sorted(planted.resources.items()))} in Terraform alone).",
        "",
        "## Time and memory",
        "",
        f"Median of {RUNS} fresh processes each, same session; peak RSS from `/usr/bin/time -v`.",
        "",
        "| tool | command | wall (median) | peak RSS | resources seen |",
        "|---|---|---:|---:|---:|",
        f"| Checkov | `checkov -d DIR --framework terraform,cloudformation -o json --quiet --skip-download` "
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
    for what, ckv, policy in EQUIVALENT:
        counts_row = f"{planted.counts[ckv]} | {checkov.get(ckv, 0)} | {yamori.get(policy, 0)}"
        lines.append(f"| {what} | {ckv} | `{policy}` | {counts_row} |")
    agree = all(checkov.get(c, 0) == yamori.get(p, 0) == planted.counts[c] for _, c, p in EQUIVALENT)
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
                [str(binary), "-d", str(corpus), "--framework", "terraform,cloudformation",
                 "-o", "json", "--quiet", "--skip-download"],
                (0, 1),
            ),
            "yamori": ([str(YAMORI), "iac", str(corpus), "-f", "json", "-q"], (0, 1)),
        }  # fmt: skip
        series: dict[str, list[Run]] = {name: [] for name in commands}
        outputs = {name: Path(tmp) / f"{name}.json" for name in commands}
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
        RESULTS.write_text(text)
        print(text)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
