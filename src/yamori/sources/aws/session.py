"""Every boto3 client yamori creates comes from here: one place for retries, endpoints, roles.

Why one factory: the posture collectors, the CloudTrail S3/SQS inputs and ECR authentication all
need the same things — adaptive retries so a scan never throttles production, an endpoint
override (moto's server in tests, VPC endpoints or LocalStack for users), a per-account assumed
role — and scattering ``boto3.client(...)`` calls would make each of them differ.

Endpoint precedence: the ``endpoint_url`` argument, then ``YAMORI_AWS_ENDPOINT_URL``, then
boto3's own ``AWS_ENDPOINT_URL`` handling.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AwsSettings", "SessionFactory"]

DEFAULT_MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class AwsSettings:
    """What the command line says about AWS access (all optional)."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def endpoint(self) -> str | None:
        return self.endpoint_url or os.environ.get("YAMORI_AWS_ENDPOINT_URL") or None


@dataclass(slots=True)
class SessionFactory:
    """boto3 sessions and clients built the same way everywhere (thread-safe, clients cached).

    boto3 sessions are not thread-safe to create clients from concurrently, so client creation
    holds a lock; the clients themselves are thread-safe and are shared.
    """

    settings: AwsSettings = field(default_factory=AwsSettings)
    _session: Any = None
    _clients: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def session(self) -> Any:
        """The boto3 session (the assumed role's, when ``role_arn`` is set)."""
        if self._session is None:
            import boto3

            base = boto3.session.Session(profile_name=self.settings.profile, region_name=self.settings.region)
            if self.settings.role_arn:
                base = self._assume(base, self.settings.role_arn)
            self._session = base
        return self._session

    def _assume(self, base: Any, role_arn: str) -> Any:
        import boto3

        sts = base.client("sts", endpoint_url=self.settings.endpoint(), config=self._config())
        params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "yamori"}
        if self.settings.external_id:
            params["ExternalId"] = self.settings.external_id
        creds = sts.assume_role(**params)["Credentials"]
        return boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=base.region_name,
        )

    def _config(self) -> Any:
        from botocore.config import Config

        return Config(
            retries={"mode": "adaptive", "max_attempts": self.settings.max_attempts},
            connect_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
            user_agent_extra="yamori",
        )

    def client(self, service: str, region: str | None = None) -> Any:
        """A cached client for ``service`` in ``region`` (default: the session's region)."""
        key = (service, region)
        with self._lock:
            cached = self._clients.get(key)
            if cached is None:
                session = self.session()
                cached = session.client(
                    service,
                    region_name=region or session.region_name or "us-east-1",
                    endpoint_url=self.settings.endpoint(),
                    config=self._config(),
                )
                self._clients[key] = cached
            return cached

    def for_role(self, role_arn: str, external_id: str | None = None) -> SessionFactory:
        """A factory for another account, reached by assuming ``role_arn`` from this one."""
        from dataclasses import replace

        return SessionFactory(replace(self.settings, role_arn=role_arn, external_id=external_id))
