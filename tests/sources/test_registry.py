"""Registry source against a real `docker-registry` (anonymous and htpasswd), a token-auth front
written here, and tiny HTTP servers for faults a real registry cannot produce on demand."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from support.oci import File, ImageSpec, Layer, debian_files, write_oci_layout
from support.registry import AUTH_PASSWORD, AUTH_USER, RegistryServer, free_port
from yamori.catalog.registry import cache_key
from yamori.model import ScanResult
from yamori.scan.errors import ScanError
from yamori.scan.scanner import ScanSettings
from yamori.scan.target import scan_image_reference
from yamori.sources.image.common import host_platform
from yamori.sources.image.registry_client import is_loopback, parse_challenge, parse_reference
from yamori.sources.interface import SourceOptions


def scan(ref: str, cache: Path, options: SourceOptions | None = None) -> ScanResult:
    return scan_image_reference(ref, ScanSettings(cache_dir=cache), options or SourceOptions(timeout=10))


def manifest_digest(server: RegistryServer, repo: str, tag: str, auth: tuple[str, str] | None = None) -> str:
    accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
    reply = httpx.head(
        f"http://{server.host}/v2/{repo}/manifests/{tag}", headers={"Accept": accept}, auth=auth
    )
    return reply.headers["docker-content-digest"]


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One layout with a plain image, a multi-arch image and a zstd image, built once."""
    root = tmp_path_factory.mktemp("layout") / "lay"
    amd = ImageSpec(
        layers=[Layer(debian_files("12")), Layer([File("app/bin", b"x")], "zstd")], architecture="amd64"
    )
    arm = ImageSpec(layers=[Layer(debian_files("11"))], architecture="arm64", variant="v8")
    write_oci_layout(root, {"plain": amd, "multi": [amd, arm]})
    return root


@pytest.fixture(scope="module")
def pushed(registry: RegistryServer, layout: Path) -> RegistryServer:
    registry.push(f"oci:{layout}:plain", "test/plain:v1")
    registry.push(f"oci:{layout}:multi", "test/multi:v1", all_platforms=True)
    return registry


# ---------------------------------------------------------------------------- happy paths


def test_pull_by_tag(pushed: RegistryServer, yamori_cache: Path) -> None:
    result = scan(f"{pushed.host}/test/plain:v1", yamori_cache)
    assert result.errors == []
    assert result.os is not None and (result.os.family, result.os.version) == ("debian", "12")
    assert len(result.artifact.layers) == 2
    assert result.artifact.layers[1].media_type == "application/vnd.oci.image.layer.v1.tar+zstd"
    digest = manifest_digest(pushed, "test/plain", "v1")
    assert result.artifact.digest == digest
    assert result.artifact.repo_digests == [f"{pushed.host}/test/plain@{digest}"]
    assert result.artifact.repo_tags == [f"{pushed.host}/test/plain:v1"]
    if "dpkg" in cache_key():  # once the dpkg cataloger exists, the status file must show
        assert {"base-files", "libc6"} <= {p.name for p in result.packages}


def test_pull_by_digest_and_docker_scheme(pushed: RegistryServer, yamori_cache: Path) -> None:
    digest = manifest_digest(pushed, "test/plain", "v1")
    result = scan(f"docker://{pushed.host}/test/plain@{digest}", yamori_cache)
    assert result.os is not None and result.os.version == "12"
    assert result.artifact.digest == digest


def test_wrong_pinned_digest_is_refused(pushed: RegistryServer, yamori_cache: Path) -> None:
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ScanError, match=r"not found|digest mismatch"):
        scan(f"{pushed.host}/test/plain@{wrong}", yamori_cache)


def test_multi_arch_index(pushed: RegistryServer, yamori_cache: Path) -> None:
    arm = scan(f"{pushed.host}/test/multi:v1", yamori_cache, SourceOptions(platform="linux/arm64"))
    assert arm.os is not None and arm.os.version == "11"
    assert arm.artifact.architecture == "arm64"
    index_digest = manifest_digest(pushed, "test/multi", "v1")
    assert arm.artifact.repo_digests == [f"{pushed.host}/test/multi@{index_digest}"]
    assert arm.artifact.digest != index_digest
    amd = scan(f"{pushed.host}/test/multi:v1", yamori_cache, SourceOptions(platform="linux/amd64"))
    assert amd.os is not None and amd.os.version == "12"
    if host_platform() == "linux/amd64":
        default = scan(f"{pushed.host}/test/multi:v1", yamori_cache)
        assert default.os == amd.os
    with pytest.raises(ScanError, match=r"no image for platform linux/ppc64le"):
        scan(f"{pushed.host}/test/multi:v1", yamori_cache, SourceOptions(platform="linux/ppc64le"))


# ---------------------------------------------------------------------------- auth


@pytest.fixture(scope="module")
def pushed_auth(auth_registry: RegistryServer, layout: Path) -> RegistryServer:
    auth_registry.push(f"oci:{layout}:plain", "private/app:v1")
    return auth_registry


def test_basic_auth_missing_credentials(
    pushed_auth: RegistryServer, yamori_cache: Path, tmp_path: Path
) -> None:
    options = SourceOptions(docker_config=tmp_path / "no-config.json")
    with pytest.raises(ScanError) as info:
        scan(f"{pushed_auth.host}/private/app:v1", yamori_cache, options)
    message = str(info.value)
    assert message.startswith(f"{pushed_auth.host}/private/app:v1: authentication required")
    assert "--username/--password" in message and "\n" not in message


def test_basic_auth_wrong_credentials(pushed_auth: RegistryServer, yamori_cache: Path) -> None:
    options = SourceOptions(username=AUTH_USER, password="wrong")
    with pytest.raises(ScanError, match=r"authentication failed at 127\.0\.0\.1:\d+ \(HTTP 401\)"):
        scan(f"{pushed_auth.host}/private/app:v1", yamori_cache, options)


def test_basic_auth_from_options(pushed_auth: RegistryServer, yamori_cache: Path) -> None:
    options = SourceOptions(username=AUTH_USER, password=AUTH_PASSWORD)
    result = scan(f"{pushed_auth.host}/private/app:v1", yamori_cache, options)
    assert result.os is not None and result.os.version == "12"


def test_basic_auth_from_docker_config(
    pushed_auth: RegistryServer, yamori_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = base64.b64encode(f"{AUTH_USER}:{AUTH_PASSWORD}".encode()).decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {f"http://{pushed_auth.host}": {"auth": auth}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    result = scan(f"{pushed_auth.host}/private/app:v1", yamori_cache)
    assert result.os is not None and result.os.family == "debian"
    # An explicit config file path works too.
    monkeypatch.delenv("DOCKER_CONFIG")
    result = scan(
        f"{pushed_auth.host}/private/app:v1",
        yamori_cache,
        SourceOptions(docker_config=tmp_path / "config.json"),
    )
    assert result.os is not None


# ---------------------------------------------------------------------------- tiny servers


class _Server:
    """A ThreadingHTTPServer on a free loopback port, answering with `handler(request)`."""

    def __init__(self, handler: Callable[[BaseHTTPRequestHandler], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                handler(self)

            def do_HEAD(self) -> None:
                handler(self)

            def log_message(self, *args: object) -> None:
                pass

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients that time out leave broken pipes behind: expected here

        self.port = free_port()
        self.httpd = QuietServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], _Server]]:
    servers: list[_Server] = []

    def start(handler: Callable[[BaseHTTPRequestHandler], None]) -> _Server:
        servers.append(_Server(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _reply(
    req: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> None:
    req.send_response(status)
    for key, value in (headers or {}).items():
        req.send_header(key, value)
    req.send_header("Content-Length", str(len(body)))
    req.end_headers()
    if req.command != "HEAD":
        req.wfile.write(body)


def test_bearer_token_flow(pushed: RegistryServer, serve: Callable[..., _Server], yamori_cache: Path) -> None:
    """A front that demands a Bearer token from its own token endpoint (Basic creds there),
    then proxies to the real registry — the Docker Hub / Harbor / ECR-public shape."""
    seen: dict[str, str] = {}
    token_host: list[str] = []

    def handle(req: BaseHTTPRequestHandler) -> None:
        if req.path.startswith("/token"):
            seen["token_query"] = req.path
            seen["token_auth"] = req.headers.get("Authorization", "")
            if seen["token_auth"] != "Basic " + base64.b64encode(b"alice:pw").decode():
                _reply(req, 401, b'{"errors":[]}')
                return
            _reply(
                req,
                200,
                json.dumps({"access_token": "tok-123"}).encode(),
                {"Content-Type": "application/json"},
            )
            return
        if req.headers.get("Authorization") != "Bearer tok-123":
            challenge = f'Bearer realm="http://{token_host[0]}/token",service="test-registry",scope="repository:test/plain:pull"'
            _reply(req, 401, b"{}", {"WWW-Authenticate": challenge})
            return
        upstream = httpx.request(
            req.command,
            f"http://{pushed.host}{req.path}",
            headers={"Accept": req.headers.get("Accept", "*/*")},
        )
        keep = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() in ("content-type", "docker-content-digest")
        }
        _reply(req, upstream.status_code, upstream.content, keep)

    front = serve(handle)
    token_host.append(front.host)
    result = scan(f"{front.host}/test/plain:v1", yamori_cache, SourceOptions(username="alice", password="pw"))
    assert result.errors == []
    assert result.os is not None and result.os.version == "12"
    assert "service=test-registry" in seen["token_query"]
    assert "scope=repository%3Atest%2Fplain%3Apull" in seen["token_query"]
    with pytest.raises(
        ScanError, match=r"authentication failed at token service http://127\.0\.0\.1:\d+/token \(401\)"
    ):
        scan(f"{front.host}/test/plain:v1", yamori_cache, SourceOptions(username="alice", password="bad"))


def test_server_error_500(serve: Callable[..., _Server], yamori_cache: Path) -> None:
    server = serve(lambda req: _reply(req, 500, b"boom"))
    with pytest.raises(ScanError) as info:
        scan(f"{server.host}/any/thing:v1", yamori_cache)
    assert str(info.value) == (
        f"{server.host}/any/thing:v1: registry {server.host} failed with HTTP 500 for the registry; "
        "try again later"
    )


def test_server_error_500_on_manifest(serve: Callable[..., _Server], yamori_cache: Path) -> None:
    server = serve(lambda req: _reply(req, 200 if req.path == "/v2/" else 503, b"{}"))
    with pytest.raises(ScanError, match=r"failed with HTTP 503 for manifest v1; try again later"):
        scan(f"{server.host}/any/thing:v1", yamori_cache)


def test_timeout(serve: Callable[..., _Server], yamori_cache: Path) -> None:
    def slow(req: BaseHTTPRequestHandler) -> None:
        time.sleep(3)
        _reply(req, 200, b"{}")

    server = serve(slow)
    with pytest.raises(
        ScanError, match=rf"{server.host}/any/thing:v1: registry {server.host} timed out after 0.5s"
    ):
        scan(f"{server.host}/any/thing:v1", yamori_cache, SourceOptions(timeout=0.5))


def test_connection_refused(yamori_cache: Path) -> None:
    port = free_port()
    with pytest.raises(ScanError) as info:
        scan(f"127.0.0.1:{port}/any/thing:v1", yamori_cache)
    assert (
        str(info.value)
        == f"127.0.0.1:{port}/any/thing:v1: cannot connect to registry 127.0.0.1:{port}: connection refused"
    )


def test_unknown_media_type(serve: Callable[..., _Server], yamori_cache: Path) -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.example.widget+json"}).encode()

    def handle(req: BaseHTTPRequestHandler) -> None:
        if req.path == "/v2/":
            _reply(req, 200, b"{}")
        else:
            _reply(req, 200, body, {"Content-Type": "application/vnd.example.widget+json"})

    server = serve(handle)
    with pytest.raises(ScanError) as info:
        scan(f"{server.host}/odd/thing:v1", yamori_cache)
    assert str(info.value) == (
        f"{server.host}/odd/thing:v1: unsupported manifest media type "
        "'application/vnd.example.widget+json'; expected a Docker v2 or OCI image manifest or index"
    )


def test_manifest_not_found(pushed: RegistryServer, yamori_cache: Path) -> None:
    with pytest.raises(ScanError, match=r"test/plain:nope: manifest nope not found \(HTTP 404\)"):
        scan(f"{pushed.host}/test/plain:nope", yamori_cache)
    with pytest.raises(ScanError, match=r"manifest v1 not found"):
        scan(f"{pushed.host}/no/such-repo:v1", yamori_cache)


def test_blob_digest_mismatch_and_missing_blob(
    registry: RegistryServer, tmp_path: Path, yamori_cache: Path
) -> None:
    root = tmp_path / "lay"
    built = write_oci_layout(
        root,
        {
            "a": ImageSpec(layers=[Layer(debian_files("12")), Layer([File("tamper/me", b"original")])]),
            "b": ImageSpec(layers=[Layer(debian_files("12")), Layer([File("missing/me", b"gone")])]),
        },
    )
    registry.push(f"oci:{root}:a", "bad/tampered:v1")
    registry.push(f"oci:{root}:b", "bad/missing:v1")
    tampered = built["a"].layers[1]  # type: ignore[union-attr]
    data = registry.blob_path("bad/tampered", tampered.digest)
    data.write_bytes(data.read_bytes()[:-4] + b"\x00\x00\x00\x00")
    result = scan(f"{registry.host}/bad/tampered:v1", yamori_cache)
    assert any(
        f"blob digest mismatch: expected {tampered.digest}" in e or "not valid gzip" in e
        for e in result.errors
    ), result.errors
    missing = built["b"].layers[1]  # type: ignore[union-attr]
    registry.blob_path("bad/missing", missing.digest).unlink()
    result = scan(f"{registry.host}/bad/missing:v1", yamori_cache)
    assert any(f"layer blob {missing.digest} not found (HTTP 404)" in e for e in result.errors), result.errors
    assert result.os is not None  # the readable layer's results are kept


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("alpine", "docker.io", "library/alpine", "latest", ""),
        ("docker.io/library/alpine", "docker.io", "library/alpine", "latest", ""),
        ("index.docker.io/user/app:1.0", "docker.io", "user/app", "1.0", ""),
        ("user/app:1.0", "docker.io", "user/app", "1.0", ""),
        ("localhost:5000/repo:tag", "localhost:5000", "repo", "tag", ""),
        ("localhost/repo", "localhost", "repo", "latest", ""),
        ("ghcr.io/o/r/x@sha256:" + "a" * 64, "ghcr.io", "o/r/x", "", "sha256:" + "a" * 64),
        ("repo:t@sha256:" + "b" * 64, "docker.io", "library/repo", "t", "sha256:" + "b" * 64),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v2",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "app",
            "v2",
            "",
        ),
    ],
)
def test_parse_reference(text: str, registry: str, repository: str, tag: str, digest: str) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


def test_parse_reference_errors_and_hub_api_host() -> None:
    assert parse_reference("alpine").api_host == "registry-1.docker.io"
    for bad in ("UPPER/case", "repo@sha256:xyz", "repo:bad tag", ""):
        with pytest.raises(ScanError):
            parse_reference(bad)


def test_challenge_and_loopback() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/alpine:pull",
    }
    assert is_loopback("localhost:5000") and is_loopback("127.0.0.1:80") and is_loopback("[::1]:5000")
    assert not is_loopback("registry.example.com:5000") and not is_loopback("10.0.0.1")


def test_plain_http_needs_insecure_for_remote_hosts(
    serve: Callable[..., _Server], yamori_cache: Path
) -> None:
    """A non-loopback plain-HTTP registry is refused without --insecure; an endpoint override
    stands in for the remote host so the test stays on loopback."""
    server = serve(lambda req: _reply(req, 500, b""))
    options = SourceOptions(
        timeout=5, extra={"registry_endpoints": {"registry.invalid": f"http://{server.host}"}}
    )
    with pytest.raises(ScanError, match=r"failed with HTTP 500"):
        scan("registry.invalid/app:v1", yamori_cache, options)
    with pytest.raises(ScanError, match=r"cannot connect to registry registry.invalid"):
        scan("registry.invalid/app:v1", yamori_cache, SourceOptions(timeout=5))
