"""Amazon ECR: credentials from `ecr:GetAuthorizationToken` (moto's server stands in for AWS),
used against a real registry whose htpasswd holds what moto hands out (`AWS` /
`<account>-auth-token`). ECR's hostname is mapped to the local registry with the client's
endpoint override, as a registry mirror would be."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.moto import MotoServer, aws_test_env
from support.oci import ImageSpec, Layer, debian_files, write_oci_layout
from support.registry import RegistryServer, start_registry
from yamori.scan.errors import ScanError
from yamori.scan.scanner import ScanSettings
from yamori.scan.target import scan_image_reference
from yamori.sources.image.registry_client import ecr_credentials
from yamori.sources.interface import SourceOptions

ACCOUNT = "123456789012"
REGION = "eu-west-1"
ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    aws_test_env(monkeypatch, REGION)


@pytest.fixture(scope="module")
def ecr_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = start_registry(
        tmp_path_factory.mktemp("ecr-registry"), username="AWS", password=f"{ACCOUNT}-auth-token"
    )
    layout = tmp_path_factory.mktemp("ecr-layout") / "lay"
    write_oci_layout(layout, {"v1": ImageSpec(layers=[Layer(debian_files("12"))])})
    server.push(f"oci:{layout}:v1", "team/app:v1")
    yield server
    server.stop()


def test_ecr_credentials_from_moto(moto: MotoServer) -> None:
    creds = ecr_credentials(ECR_HOST, SourceOptions(aws_endpoint_url=moto.url))
    assert creds == ("AWS", f"{ACCOUNT}-auth-token")
    assert ecr_credentials("ghcr.io", SourceOptions(aws_endpoint_url=moto.url)) is None


def test_scan_ecr_image(
    moto: MotoServer, ecr_registry: RegistryServer, tmp_path: Path, yamori_cache: Path
) -> None:
    options = SourceOptions(
        aws_endpoint_url=moto.url,
        docker_config=tmp_path / "none.json",
        extra={"registry_endpoints": {ECR_HOST: f"http://{ecr_registry.host}"}},
    )
    result = scan_image_reference(f"{ECR_HOST}/team/app:v1", ScanSettings(cache_dir=yamori_cache), options)
    assert result.errors == []
    assert result.os is not None and result.os.version == "12"
    assert result.artifact.repo_tags == [f"{ECR_HOST}/team/app:v1"]


def test_scan_ecr_endpoint_from_env(
    moto: MotoServer,
    ecr_registry: RegistryServer,
    tmp_path: Path,
    yamori_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    options = SourceOptions(
        docker_config=tmp_path / "none.json",
        extra={"registry_endpoints": {ECR_HOST: f"http://{ecr_registry.host}"}},
    )
    result = scan_image_reference(f"{ECR_HOST}/team/app:v1", ScanSettings(cache_dir=yamori_cache), options)
    assert result.os is not None


def test_ecr_without_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ScanError, match=f"{ECR_HOST}: no AWS credentials to get an ECR token"):
        ecr_credentials(ECR_HOST, SourceOptions(aws_endpoint_url="http://127.0.0.1:9"))
