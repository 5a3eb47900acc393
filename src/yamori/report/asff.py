"""AWS Security Finding Format (ASFF) for Security Hub's ``BatchImportFindings``: a JSON array.

Import: ``aws securityhub batch-import-findings --findings file://report.json`` (at most 100 per
call; split larger arrays) in the region of each finding's ``ProductArn``. The product is the
account's own ``default`` product (``arn:aws:securityhub:<region>:<account>:product/<account>/default``),
which every account may import into without a partner integration.

Mapping choices:

- ``Id`` is ``yamori/<finding id>`` — the stable finding id, so a re-import *updates* the same
  Security Hub finding instead of adding a duplicate, exactly what Security Hub's own controls do.
- ``Compliance.Status``: PASS → PASSED, FAIL → FAILED, MANUAL → WARNING (a human must look),
  ERROR/UNKNOWN/NOT_APPLICABLE → NOT_AVAILABLE (no verdict). A suppressed finding keeps the
  status it had and gets ``Workflow.Status = SUPPRESSED``.
- ``Severity.Label``: the policy severity for failing findings; INFORMATIONAL for PASSED (as
  Security Hub rates its own passed controls) and for ``info`` policies. ``Severity.Original``
  keeps yamori's.
- Global resources (IAM, the account) are reported in the scan's home region (``us-east-1`` when
  scanned, else the first scanned region): Security Hub findings live in one region.
- Field lengths are cut to Security Hub's limits (Title 256, Description 1024, Recommendation
  text 512, ProductFields values 2048).
"""

from __future__ import annotations

from typing import Any, Final, TextIO

import orjson

from yamori import __version__
from yamori.model.finding import Finding, Severity, Status
from yamori.posture.result import PostureResult, ReportOptions
from yamori.report.interface import PostureWriter
from yamori.report.postureview import finding_message, frameworks_cited, is_info, resource_kind, standard_name
from yamori.report.registry import register_posture

SCHEMA_VERSION: Final = "2018-10-08"
HOME_REGION: Final = "us-east-1"
_BEST_PRACTICES: Final = "Software and Configuration Checks/AWS Security Best Practices"
_INDUSTRY: Final = "Software and Configuration Checks/Industry and Regulatory Standards"
_STANDARD_TYPES: Final = {"cis-aws": "CIS AWS Foundations Benchmark"}

COMPLIANCE_STATUS: Final = {
    Status.PASS: "PASSED",
    Status.FAIL: "FAILED",
    Status.MANUAL: "WARNING",
}
SEVERITY_LABELS: Final = {
    Severity.CRITICAL: "CRITICAL",
    Severity.HIGH: "HIGH",
    Severity.MEDIUM: "MEDIUM",
    Severity.LOW: "LOW",
    Severity.UNKNOWN: "INFORMATIONAL",
}
# yamori kind -> ASFF resource type (the ``Resources[].Type`` values Security Hub documents).
RESOURCE_TYPES: Final = {
    "aws.account": "AwsAccount",
    "aws.iam.user": "AwsIamUser",
    "aws.iam.role": "AwsIamRole",
    "aws.iam.group": "AwsIamGroup",
    "aws.iam.policy": "AwsIamPolicy",
    "aws.s3.bucket": "AwsS3Bucket",
    "aws.s3.account_settings": "AwsS3AccountPublicAccessBlock",
    "aws.ec2.instance": "AwsEc2Instance",
    "aws.ec2.security_group": "AwsEc2SecurityGroup",
    "aws.ec2.network_acl": "AwsEc2NetworkAcl",
    "aws.ec2.vpc": "AwsEc2Vpc",
    "aws.ec2.subnet": "AwsEc2Subnet",
    "aws.ec2.volume": "AwsEc2Volume",
    "aws.ec2.route_table": "AwsEc2RouteTable",
    "aws.rds.db_instance": "AwsRdsDbInstance",
    "aws.rds.db_cluster": "AwsRdsDbCluster",
    "aws.rds.db_snapshot": "AwsRdsDbSnapshot",
    "aws.efs.file_system": "AwsEfsFileSystem",
    "aws.kms.key": "AwsKmsKey",
    "aws.cloudtrail.trail": "AwsCloudTrailTrail",
    "aws.cloudwatch.alarm": "AwsCloudWatchAlarm",
    "aws.sns.topic": "AwsSnsTopic",
    "aws.ecs.cluster": "AwsEcsCluster",
    "aws.ecs.task_definition": "AwsEcsTaskDefinition",
    "aws.eks.cluster": "AwsEksCluster",
    "aws.ecr.repository": "AwsEcrRepository",
    "aws.lambda.function": "AwsLambdaFunction",
}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _home_region(result: PostureResult) -> str:
    regions = result.snapshot.regions
    return HOME_REGION if HOME_REGION in regions or not regions else regions[0]


def _types(finding: Finding) -> list[str]:
    types: list[str] = []
    for framework in frameworks_cited(finding):
        family = next(
            (name for prefix, name in _STANDARD_TYPES.items() if framework.startswith(prefix)), None
        )
        types.append(f"{_INDUSTRY}/{family}" if family else _INDUSTRY)
    return list(dict.fromkeys(types)) or [_BEST_PRACTICES]


def _severity(finding: Finding, compliance: str) -> dict[str, Any]:
    label = (
        "INFORMATIONAL" if compliance == "PASSED" or is_info(finding) else SEVERITY_LABELS[finding.severity]
    )
    return {"Label": label, "Original": str(finding.severity)}


def asff_finding(result: PostureResult, finding: Finding) -> dict[str, Any]:
    original = Status(finding.evidence.get("suppression", {}).get("status", finding.status))
    compliance = COMPLIANCE_STATUS.get(original, "NOT_AVAILABLE")
    region = finding.region or _home_region(result)
    account = finding.account or (result.snapshot.accounts[0] if result.snapshot.accounts else "")
    stamp = result.snapshot.taken_at
    message = finding_message(finding)
    description = finding.description or finding.title
    if message and message != finding.title:
        description = f"{description}\n\n{message}" if description else message
    resource: dict[str, Any] = {
        "Type": RESOURCE_TYPES.get(resource_kind(result, finding), "Other"),
        "Id": _cut(finding.resource, 512),
        "Partition": "aws-cn"
        if region.startswith("cn-")
        else "aws-us-gov"
        if region.startswith("us-gov-")
        else "aws",
        "Region": region,
    }
    snapshot_resource = result.resource(finding.resource)
    if snapshot_resource is not None and snapshot_resource.tags:
        resource["Tags"] = dict(list(snapshot_resource.tags.items())[:50])
    related = [
        f"{standard_name(result, ref.partition(':')[0])}/{ref.partition(':')[2]}"
        for ref in finding.compliance
    ][:32]
    compliance_doc: dict[str, Any] = {"Status": compliance}
    if related:
        compliance_doc["RelatedRequirements"] = related
    if original is Status.ERROR:
        compliance_doc["StatusReasons"] = [
            {
                "ReasonCode": "CONFIG_ACCESS_DENIED"
                if "AccessDenied" in message
                else "CONFIG_EVALUATIONS_EMPTY",
                "Description": _cut(message, 2048),
            }
        ]
    product_fields = {
        "ProviderName": "yamori",
        "ProviderVersion": __version__,
        "yamori/PolicyId": finding.rule_id,
        "yamori/Status": str(finding.status),
        "yamori/ResourceKind": resource_kind(result, finding),
    }
    asff: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": f"yamori/{finding.id}",
        "ProductArn": f"arn:aws:securityhub:{region}:{account}:product/{account}/default",
        "ProductName": "yamori",
        "CompanyName": "yamori",
        "GeneratorId": f"yamori/{finding.rule_id}",
        "AwsAccountId": account,
        "Region": region,
        "Types": _types(finding),
        "CreatedAt": stamp,
        "UpdatedAt": stamp,
        "Severity": _severity(finding, compliance),
        "Title": _cut(finding.title, 256),
        "Description": _cut(description or finding.rule_id, 1024),
        "Resources": [resource],
        "Compliance": compliance_doc,
        "ProductFields": {k: _cut(v, 2048) for k, v in product_fields.items()},
        "RecordState": "ACTIVE",
        "Workflow": {"Status": "SUPPRESSED" if finding.status is Status.SUPPRESSED else "NEW"},
    }
    if finding.remediation:
        recommendation: dict[str, str] = {"Text": _cut(finding.remediation, 512)}
        url = next((r for r in finding.references if r.startswith("https://")), None)
        if url:
            recommendation["Url"] = url
        asff["Remediation"] = {"Recommendation": recommendation}
    return asff


@register_posture
class ASFFWriter(PostureWriter):
    name = "asff"
    description = "AWS Security Finding Format (Security Hub BatchImportFindings), a JSON array"

    def write(self, result: PostureResult, out: TextIO, options: ReportOptions) -> None:
        findings = [asff_finding(result, f) for f in result.findings]
        out.write(orjson.dumps(findings, option=orjson.OPT_INDENT_2).decode())
        out.write("\n")
