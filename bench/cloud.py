"""`yamori cloud aws` cost: wall time, AWS API calls per service and kind, and peak memory.

Run with `make bench-cloud` (or `.venv/bin/python bench/cloud.py`). No peer is run: Prowler and
ScoutSuite are not installed here, so the figures are set against the issue's targets.

What is measured, against a `moto_server` this script starts on a free loopback port:

1. A realistic account seeded in us-east-1 (20 IAM users with access keys, 30 S3 buckets, 3 VPCs
   each with 4 security groups and a NACL, 50 EC2 instances, 2 CloudTrail trails, 8 KMS keys,
   3 RDS instances), then `yamori cloud aws --framework cis-aws-3.0` over **one region** and over
   **every enabled region** (moto reports every commercial region as enabled, which is the
   "all regions" case). Each scan is a fresh process under `/usr/bin/time -v` (wall time, peak
   RSS); API calls come from the stored snapshot's `api_calls`.
2. The call budget: "one listing call per resource type per region, plus the per-resource calls
   the data needs". Every operation is classed as a listing (at most one call per region and
   page) or per-resource, and per-resource calls are set beside the number of resources.
3. Peak RSS of evaluating an account of 10,000 resources: a **synthetic** snapshot (10,000
   security groups with realistic rules, 10 % open to the world, written as `Snapshot` JSON)
   re-evaluated with `--from-snapshot` — seeding 10,000 groups in moto would measure moto.
   Target: under 500 MB.

moto is not AWS: it answers in-process in about a millisecond and never throttles, so wall times
here are the client's own cost (botocore, collectors, policies); against AWS, latency (~20-80 ms
per call) and the client-side rate limit (20 calls/s per service, IAM 10) dominate. Call counts
are the figure that carries over.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from sbom_vs_trivy import cpu_model, git_commit, memory_gib  # noqa: E402  (bench/ on the path first)

YAMORI = Path(sys.executable).with_name("yamori")
MOTO = Path(sys.executable).with_name("moto_server")
RESULTS = ROOT / "bench" / "RESULTS_cloud.md"
ACCOUNT = "123456789012"
SYNTHETIC_RESOURCES = 10_000
RSS_TARGET_MB = 500


@dataclass
class Run:
    label: str
    wall: float
    rss_mib: float
    report: dict[str, Any]
    kinds: Counter[str]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    # No default AMIs: moto backs each with an EBS snapshot owned by the account, ~1,300 per
    # region, which no real account has. The instances use one AMI registered by `seed`.
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true", "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    proc = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"moto_server did not start (log: {log})")


def seed(url: str) -> dict[str, int]:
    """A realistic account in us-east-1; returns what was created, by kind."""

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=url, region_name="us-east-1")

    iam, s3, ec2, ct, kms, rds = (client(s) for s in ("iam", "s3", "ec2", "cloudtrail", "kms", "rds"))
    for i in range(20):
        iam.create_user(UserName=f"user-{i:02d}")
        iam.create_access_key(UserName=f"user-{i:02d}")
    for i in range(30):
        s3.create_bucket(Bucket=f"bench-bucket-{i:02d}")
        if i % 3 == 0:
            s3.put_bucket_versioning(
                Bucket=f"bench-bucket-{i:02d}", VersioningConfiguration={"Status": "Enabled"}
            )
    image = ec2.register_image(
        Name="bench-ami",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
    )["ImageId"]
    groups = 0
    for v in range(3):
        vpc = ec2.create_vpc(CidrBlock=f"10.{v}.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{v}.1.0/24")["Subnet"]["SubnetId"]
        ec2.create_network_acl(VpcId=vpc)
        for g in range(4):
            group = ec2.create_security_group(GroupName=f"sg-{v}-{g}", Description="bench", VpcId=vpc)[
                "GroupId"
            ]
            groups += 1
            cidr = "0.0.0.0/0" if g == 0 else f"10.{v}.0.0/16"
            ec2.authorize_security_group_ingress(
                GroupId=group,
                IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": cidr}]}
                ],
            )
        count = 17 if v < 2 else 16
        ec2.run_instances(
            ImageId=image, MinCount=count, MaxCount=count, InstanceType="t3.micro", SubnetId=subnet
        )
    s3.create_bucket(Bucket="bench-trail-logs")
    for name in ("org-trail", "app-trail"):
        ct.create_trail(Name=name, S3BucketName="bench-trail-logs", IsMultiRegionTrail=name == "org-trail")
        ct.start_logging(Name=name)
    for i in range(8):
        key = kms.create_key(Description=f"bench key {i}")["KeyMetadata"]["KeyId"]
        if i % 2 == 0:
            kms.enable_key_rotation(KeyId=key)
    for i in range(3):
        rds.create_db_instance(
            DBInstanceIdentifier=f"bench-db-{i}",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="admin",
            MasterUserPassword="not-a-secret-0",
            AllocatedStorage=20,
            StorageEncrypted=i != 0,
        )
    return {"iam users": 20, "s3 buckets": 31, "vpcs": 3, "security groups": groups, "instances": 50,
            "trails": 2, "kms keys": 8, "rds instances": 3}  # fmt: skip


def timed(label: str, args: list[str], env: dict[str, str], report: Path) -> Run:
    saved = report.with_suffix(".scan.json")
    argv = [
        "/usr/bin/time",
        "-v",
        str(YAMORI),
        *args,
        "-f",
        "json",
        "-o",
        str(report),
        "-q",
        "--save-snapshot",
        str(saved),
    ]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{label}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    kinds = Counter(r["kind"] for r in json.loads(saved.read_text())["snapshot"]["resources"])
    return Run(label, wall, int(rss.group(1)) / 1024 if rss else 0.0, json.loads(report.read_text()), kinds)


# Operations that read a collection or one account/region setting, whatever the number of resources.
_SETTINGS = (
    "Account|Ebs|Serial|ImageBlock|SnapshotBlock|InstanceMetadata|Credential|Alternate|PublicAccess|"
    "Registry|Enabled|CallerIdentity"
)
_LISTING = re.compile(rf":(List|Describe|Get({_SETTINGS})|GenerateCredentialReport)")


def call_table(run: Run) -> list[tuple[str, int, str]]:
    """(operation, calls, class): a listing-shaped operation called more than twice per region
    (more than one page) is per-resource (e.g. KMS DescribeKey, one per key)."""
    regions = len(run.report["scan"]["regions"])
    rows = []
    for op, count in run.report["scan"]["api_calls_by_operation"].items():
        listing = bool(_LISTING.search(op)) and count <= 2 * regions
        rows.append((op, count, "listing" if listing else "per-resource"))
    return sorted(rows, key=lambda r: (r[0].split(":")[0], -r[1]))


def synthetic_snapshot(path: Path, count: int) -> None:
    """``count`` security groups over 4 regions: 10 % open SSH to the world, the rest internal."""
    regions = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"]
    resources = []
    for i in range(count):
        region = regions[i % len(regions)]
        gid = f"sg-{i:017x}"
        cidr = "0.0.0.0/0" if i % 10 == 0 else "10.0.0.0/8"
        resources.append(
            {
                "kind": "aws.ec2.security_group",
                "id": f"arn:aws:ec2:{region}:{ACCOUNT}:security-group/{gid}",
                "name": f"app-{i}",
                "account": ACCOUNT,
                "region": region,
                "source": "aws",
                "location": "",
                "tags": {"Team": f"team-{i % 17}", "Env": "prod" if i % 3 else "dev"},
                "attributes": {
                    "GroupId": gid,
                    "GroupName": f"app-{i}",
                    "Description": "application tier",
                    "VpcId": f"vpc-{i % 40:017x}",
                    "OwnerId": ACCOUNT,
                    "IpPermissions": [
                        {
                            "IpProtocol": "tcp",
                            "FromPort": 22,
                            "ToPort": 22,
                            "IpRanges": [{"CidrIp": cidr}],
                            "Ipv6Ranges": [],
                            "PrefixListIds": [],
                            "UserIdGroupPairs": [],
                        },
                        {
                            "IpProtocol": "tcp",
                            "FromPort": 443,
                            "ToPort": 443,
                            "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}],
                            "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                            "PrefixListIds": [],
                            "UserIdGroupPairs": [],
                        },
                    ],
                    "IpPermissionsEgress": [
                        {
                            "IpProtocol": "-1",
                            "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                            "Ipv6Ranges": [],
                            "PrefixListIds": [],
                            "UserIdGroupPairs": [],
                        }
                    ],
                },
                "origins": {},
                "errors": {},
            }
        )
    doc = {
        "format": 1,
        "provider": "aws",
        "taken_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "accounts": [ACCOUNT],
        "regions": regions,
        "api_calls": {},
        "errors": [],
        "resources": resources,
    }
    path.write_text(json.dumps(doc))


def per_service(run: Run) -> Counter[str]:
    services: Counter[str] = Counter()
    for op, count in run.report["scan"]["api_calls_by_operation"].items():
        services[op.split(":")[0]] += count
    return services


def write_results(seeded: dict[str, int], runs: list[Run], synthetic: Run, moto_regions: int) -> None:
    one, every = runs
    lines = [
        "# `yamori cloud aws` against moto: wall time, API calls, memory",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, commit `{git_commit()}`",
        f"- machine: {cpu_model()}, {os.cpu_count()} CPUs, {memory_gib():.1f} GiB; "
        f"Python {platform.python_version()}",
        "- command: `yamori cloud aws --framework cis-aws-3.0 --endpoint-url MOTO --rate-limit 0 "
        "--max-attempts 1 -f json` (`make bench-cloud`)",
        "- **moto is not AWS**: moto answers in about a millisecond and never throttles; against AWS "
        "each call costs 20-80 ms and the default client-side rate limit (20 calls/s per service and "
        "account, IAM 10/s) bounds a scan. Call counts carry over; wall times do not.",
        "- seeded in us-east-1: " + ", ".join(f"{v} {k}" for k, v in seeded.items()),
        "",
        "## Full CIS AWS 3.0 scan",
        "",
        "| scope | regions | resources | findings | API calls | wall | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        scan = run.report["scan"]
        lines.append(
            f"| {run.label} | {len(scan['regions'])} | {scan['resources']} | {len(run.report['findings'])} | "
            f"{scan['api_calls']} | {run.wall:.1f} s | {run.rss_mib:.0f} MiB |"
        )
    lines += [
        "",
        "Resources by kind (largest five): "
        + "; ".join(
            f"{run.label}: " + ", ".join(f"{kind} {n}" for kind, n in run.kinds.most_common(5))
            for run in runs
        )
        + ". Every region has a default VPC (subnets, security group, NACL, route table) and the "
        "per-region settings resources.",
        "",
        f"moto reports {moto_regions} enabled regions. Collection errors (APIs moto lacks, e.g. Access "
        "Analyzer) are ERROR findings, not failures of the run.",
        "",
        "## API calls per service",
        "",
        "| service | one region | all regions | all regions / region |",
        "|---|---:|---:|---:|",
    ]
    one_s, all_s = per_service(one), per_service(every)
    for service in sorted(all_s):
        lines.append(
            f"| {service} | {one_s.get(service, 0)} | {all_s[service]} | "
            f"{all_s[service] / len(every.report['scan']['regions']):.1f} |"
        )
    lines += [
        "",
        "## Listing versus per-resource calls (one region)",
        "",
        "Target: one listing call per resource type per region (per page), plus the per-resource "
        "calls the data needs. An operation is a *listing* when it is a List/Describe of a collection "
        "or an account/region setting read; everything else is per-resource.",
        "",
        "| operation | calls | class |",
        "|---|---:|---|",
    ]
    listing_over = []
    for op, count, kind in call_table(one):
        lines.append(f"| `{op}` | {count} | {kind} |")
        if kind == "per-resource":
            listing_over.append((op, count))
    lines += [
        "",
        "Per-resource operations: "
        + (", ".join(f"`{op}` ({c})" for op, c in listing_over) or "none")
        + f" — set beside the seeded resources ({', '.join(f'{v} {k}' for k, v in seeded.items())}).",
        "",
        "## 10,000 resources: peak memory",
        "",
        f"A **synthetic** snapshot of {SYNTHETIC_RESOURCES:,} security groups (4 regions, two ingress "
        "rules and one egress rule each, tags; 10 % open SSH to the world) re-evaluated with "
        "`--from-snapshot FILE --framework cis-aws-3.0 -f json`, in a fresh process.",
        "",
        "| resources | findings | wall | peak RSS | target |",
        "|---:|---:|---:|---:|---|",
        f"| {synthetic.report['scan']['resources']:,} | {len(synthetic.report['findings']):,} | "
        f"{synthetic.wall:.1f} s | {synthetic.rss_mib:.0f} MiB | < {RSS_TARGET_MB} MB: "
        f"{'met' if synthetic.rss_mib * 1.048576 < RSS_TARGET_MB else 'MISSED'} |",
        "",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="yamori-bench-cloud-") as tmp_name:
        tmp = Path(tmp_name)
        proc, url = start_moto(tmp / "moto.log")
        try:
            env = {
                **os.environ,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "YAMORI_DATA_DIR": str(tmp / "data"),
                "YAMORI_CONFIG": str(tmp / "no-config.yaml"),
            }
            os.environ.update(
                {k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
            )
            print("seeding moto …", flush=True)
            seeded = seed(url)
            base = ["cloud", "aws", "--endpoint-url", url, "--framework", "cis-aws-3.0", "--rate-limit", "0",
                    "--max-attempts", "1", "--no-store"]  # fmt: skip
            runs = []
            for label, extra in (("one region", ["--regions", "us-east-1"]), ("all regions", [])):
                print(f"scan: {label} …", flush=True)
                runs.append(timed(label, [*base, *extra], env, tmp / f"{label}.json"))
                print(f"  {runs[-1].wall:.1f} s, {runs[-1].report['scan']['api_calls']} calls", flush=True)
            moto_regions = len(runs[1].report["scan"]["regions"])
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        snapshot = tmp / "synthetic.json"
        synthetic_snapshot(snapshot, SYNTHETIC_RESOURCES)
        print(f"evaluate: {SYNTHETIC_RESOURCES} synthetic resources …", flush=True)
        args = ["cloud", "aws", "--from-snapshot", str(snapshot), "--framework", "cis-aws-3.0"]
        synthetic = timed("synthetic", args, env, tmp / "synthetic-report.json")
        print(f"  {synthetic.wall:.1f} s, {synthetic.rss_mib:.0f} MiB", flush=True)
        write_results(seeded, runs, synthetic, moto_regions)
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
