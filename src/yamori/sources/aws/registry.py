"""AWS collectors by service name (module path, imported on use): adding a service is one line."""

from __future__ import annotations

from importlib import import_module

from yamori.sources.aws.interface import Collector

__all__ = ["COLLECTORS", "all_collectors", "collector_for"]

# service -> "module:Class" (one module per service, under yamori.sources.aws.collectors).
COLLECTORS: dict[str, str] = {
    service: f"yamori.sources.aws.collectors.{module}:{cls}"
    for service, module, cls in (
        # account-wide ("global") services
        ("iam", "iam", "IamCollector"),
        ("s3", "s3", "S3Collector"),
        ("organizations", "organizations", "OrganizationsCollector"),
        # regional services
        ("cloudtrail", "cloudtrail", "CloudTrailCollector"),
        ("logs", "logs", "LogsCollector"),
        ("cloudwatch", "cloudwatch", "CloudWatchCollector"),
        ("sns", "sns", "SnsCollector"),
        ("config", "config", "ConfigCollector"),
        ("ec2", "ec2", "Ec2Collector"),
        ("rds", "rds", "RdsCollector"),
        ("efs", "efs", "EfsCollector"),
        ("kms", "kms", "KmsCollector"),
        ("ecs", "ecs", "EcsCollector"),
        ("eks", "eks", "EksCollector"),
        ("ecr", "ecr", "EcrCollector"),
        ("lambda", "lambda_", "LambdaCollector"),
        ("securityhub", "securityhub", "SecurityHubCollector"),
        ("accessanalyzer", "accessanalyzer", "AccessAnalyzerCollector"),
    )
}


def collector_for(service: str) -> Collector:
    module, _, cls = COLLECTORS[service].partition(":")
    collector: Collector = getattr(import_module(module), cls)()
    return collector


def all_collectors(services: list[str] | None = None) -> list[Collector]:
    """Collectors for ``services`` (all registered ones by default); KeyError names an unknown one."""
    names = list(COLLECTORS) if services is None else services
    unknown = [n for n in names if n not in COLLECTORS]
    if unknown:
        raise KeyError(
            f"unknown AWS service(s): {', '.join(unknown)} (known: {', '.join(sorted(COLLECTORS))})"
        )
    return [collector_for(n) for n in names]
