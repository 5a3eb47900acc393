"""The sensor's host: its name and, when enabled, the EC2 instance it runs on (IMDSv2).

Alerts carry where they happened: ``evt.hostname`` always, and with ``--aws-metadata`` the
``cloud.*`` fields (account, region, zone, instance id and type, AMI) from the instance
identity document. Read once at start (the identity of an instance does not change while it
runs) with short timeouts: a sensor on a machine that is not EC2, or whose metadata service is
firewalled, starts a second later with those fields ``<NA>``, never fails.

IMDSv2: ``PUT /latest/api/token`` (header ``X-aws-ec2-metadata-token-ttl-seconds``) gives a
session token; ``GET /latest/dynamic/instance-identity/document`` with the token gives the
JSON document. The endpoint is ``http://169.254.169.254`` unless ``--imds-endpoint`` or
``AWS_EC2_METADATA_SERVICE_ENDPOINT`` (botocore's variable) says otherwise.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import httpx

from yamori.sensor.interface import HostInfo

__all__ = ["DEFAULT_IMDS_ENDPOINT", "aws_identity", "host_info", "imds_endpoint"]

DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254"
TOKEN_TTL = 21600


def imds_endpoint(explicit: str | None = None) -> str:
    return (explicit or os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or DEFAULT_IMDS_ENDPOINT).rstrip(
        "/"
    )


def aws_identity(endpoint: str | None = None, *, timeout: float = 1.0) -> dict[str, Any] | None:
    """The instance identity document, or None when there is no (reachable) metadata service."""
    base = imds_endpoint(endpoint)
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            token = client.put(
                f"{base}/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL)}
            )
            if token.status_code != 200 or not token.text:
                return None
            doc = client.get(
                f"{base}/latest/dynamic/instance-identity/document",
                headers={"X-aws-ec2-metadata-token": token.text},
            )
            if doc.status_code != 200:
                return None
            data = doc.json()
    except (httpx.HTTPError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def host_info(
    *, aws: bool = False, endpoint: str | None = None, hostname: str | None = None, timeout: float = 1.0
) -> HostInfo:
    """The host's ``HostInfo``; the cloud part only with ``aws`` and an answering service."""
    name = hostname or socket.gethostname()
    doc = aws_identity(endpoint, timeout=timeout) if aws else None
    if doc is None:
        return HostInfo(hostname=name)

    def text(key: str) -> str | None:
        value = doc.get(key)
        return str(value) if isinstance(value, str) and value else None

    return HostInfo(
        hostname=name,
        cloud_provider="aws",
        account_id=text("accountId"),
        region=text("region"),
        availability_zone=text("availabilityZone"),
        instance_id=text("instanceId"),
        instance_type=text("instanceType"),
        image_id=text("imageId"),
    )
