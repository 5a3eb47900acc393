"""A small OCI distribution API client (pull side only) on httpx.

Why our own: the pull protocol is four requests (ping, token, manifest, blob) and yamori needs
control over every failure so that it becomes one line naming the image. What it does:

* references: `[host[:port]/]repo[:tag][@digest]`, with Docker Hub's defaults (`docker.io` →
  `registry-1.docker.io`, `library/` for single-component names, tag `latest`);
* transport: HTTPS first; plain HTTP only with `insecure` or for loopback registries (Docker
  treats `localhost` the same way); `insecure` also disables certificate checks;
* auth: the `/v2/` ping's `WWW-Authenticate` challenge decides — Basic sends credentials, Bearer
  fetches a pull token from the realm (with Basic credentials when known). Credentials come from
  the options, `~/.docker/config.json` (`auths.*.auth`, base64 `user:password`), or, for Amazon
  ECR hosts, from `ecr:GetAuthorizationToken` through boto3.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import orjson

from yamori.scan.errors import ScanError
from yamori.sources.interface import SourceOptions

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
ECR_HOST_RE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"
)
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(slots=True, frozen=True)
class Reference:
    """A parsed image reference. `registry` is the host as written (`docker.io` for the Hub)."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def api_host(self) -> str:
        """The host to talk to: Docker Hub's API lives on a different name than its images."""
        return DOCKER_HUB_API if self.registry in _HUB_ALIASES else self.registry

    @property
    def reference(self) -> str:
        """What to ask the manifest endpoint for: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> Reference:
    """Parse `[host[:port]/]repo[:tag][@digest]` the way Docker does.

    The first component is a host when it contains `.` or `:` or is `localhost`.
    """
    original = text
    text = text.strip()
    if text.startswith("docker://"):
        text = text[len("docker://") :]
    digest = ""
    if "@" in text:
        text, _, digest = text.partition("@")
        if not _DIGEST_RE.match(digest):
            raise ScanError(f"{original}: invalid digest {digest!r} in image reference")
    tag = ""
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, _, tag = text.rpartition(":")
        if not _TAG_RE.match(tag):
            raise ScanError(f"{original}: invalid tag {tag!r} in image reference")
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, text
    registry = registry.lower() if registry != DOCKER_HUB else registry
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    if not repository or not _REPO_RE.match(repository):
        raise ScanError(f"{original}: invalid repository name {repository!r} in image reference")
    if not tag and not digest:
        tag = "latest"
    return Reference(registry=registry, repository=repository, tag=tag, digest=digest)


def is_loopback(host: str) -> bool:
    """Loopback registries may speak plain HTTP without --insecure, as Docker allows."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------- credentials


def docker_config_path(options: SourceOptions) -> Path:
    if options.docker_config is not None:
        path = options.docker_config
        return path / "config.json" if path.is_dir() else path
    env = os.environ.get("DOCKER_CONFIG")
    if env:
        return Path(env) / "config.json"
    return Path.home() / ".docker" / "config.json"


def _config_key_host(key: str) -> str:
    host = key.removeprefix("https://").removeprefix("http://").split("/", 1)[0].lower()
    return DOCKER_HUB if host in _HUB_ALIASES else host


def docker_config_credentials(registry: str, options: SourceOptions) -> tuple[str, str] | None:
    """`auths` entries of the Docker config file; credential helpers are not run (they execute
    programs, which a scanner should not do implicitly)."""
    path = docker_config_path(options)
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    auths = data.get("auths") if isinstance(data, dict) else None
    if not isinstance(auths, dict):
        return None
    wanted = DOCKER_HUB if registry in _HUB_ALIASES else registry.lower()
    for key, entry in auths.items():
        if _config_key_host(str(key)) != wanted or not isinstance(entry, dict):
            continue
        if entry.get("username") and entry.get("password"):
            return str(entry["username"]), str(entry["password"])
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                user, sep, password = base64.b64decode(encoded).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            if sep:
                return user, password
    return None


def ecr_credentials(host: str, options: SourceOptions) -> tuple[str, str] | None:
    """Basic credentials for an ECR registry from `ecr:GetAuthorizationToken` (user `AWS`)."""
    match = ECR_HOST_RE.match(host)
    if not match:
        return None
    import boto3
    import botocore.exceptions

    region = options.aws_region or match.group("region")
    endpoint = options.aws_endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    try:
        client = boto3.session.Session().client("ecr", region_name=region, endpoint_url=endpoint)
        reply = client.get_authorization_token(registryIds=[match.group("account")])
        token = reply["authorizationData"][0]["authorizationToken"]
        user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
    except botocore.exceptions.NoCredentialsError:
        raise ScanError(
            f"{host}: no AWS credentials to get an ECR token; configure the AWS CLI or set "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or pass --username AWS --password TOKEN)"
        ) from None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise ScanError(f"{host}: could not get an ECR authorization token: {exc}") from None
    except (KeyError, IndexError, ValueError, UnicodeDecodeError):
        raise ScanError(f"{host}: ECR returned an unreadable authorization token") from None
    return user, password


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` → ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


# ---------------------------------------------------------------- client


AUTH_HINT = (
    "pass credentials with --username/--password (or YAMORI_USERNAME/YAMORI_PASSWORD), "
    "or log in with `docker login` so ~/.docker/config.json has them"
)


class _ResponseStream(io.RawIOBase):
    """A streamed HTTP response body as a file; closing it releases the connection."""

    def __init__(self, response: httpx.Response, where: str) -> None:
        self._response = response
        self._chunks: Iterator[bytes] = response.iter_bytes(1024 * 1024)
        self._pending = b""
        self._where = where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
            except httpx.TimeoutException:
                raise ScanError(f"{self._where}: timed out reading the blob") from None
            except httpx.HTTPError as exc:
                raise ScanError(f"{self._where}: blob download failed: {exc}") from None
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


class RegistryClient:
    """Talks to one registry for one repository; thread-safe for concurrent blob reads."""

    def __init__(self, ref: Reference, options: SourceOptions) -> None:
        self.ref = ref
        self.options = options
        self.name = str(ref)
        endpoints: dict[str, str] = dict(options.extra.get("registry_endpoints") or {})
        # An endpoint override maps a registry host to the URL that serves it (a mirror, or a
        # local stand-in in tests); otherwise the scheme is found by the first ping.
        self._base = endpoints.get(ref.registry, "").rstrip("/")
        self._client = httpx.Client(
            timeout=httpx.Timeout(options.timeout),
            verify=not options.insecure,
            follow_redirects=True,
            headers={"User-Agent": "yamori"},
        )
        self._auth: str | None = None  # the Authorization header value once known
        self._basic: tuple[str, str] | None = None
        self._creds_loaded = False

    def close(self) -> None:
        self._client.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _credentials(self) -> tuple[str, str] | None:
        if not self._creds_loaded:
            self._creds_loaded = True
            opts = self.options
            if opts.username is not None and opts.password is not None:
                self._basic = (opts.username, opts.password)
            else:
                self._basic = docker_config_credentials(self.ref.registry, opts) or ecr_credentials(
                    self.ref.registry, opts
                )
        return self._basic

    def _fail_transport(self, exc: httpx.HTTPError, url: str) -> ScanError:
        host = self.ref.api_host
        if isinstance(exc, httpx.TimeoutException):
            return ScanError(
                f"{self.name}: registry {host} timed out after {self.options.timeout:g}s ({url})"
            )
        if isinstance(exc, httpx.ConnectError):
            reason = str(exc) or "connection failed"
            if "refused" in reason.lower():
                reason = "connection refused"
            return ScanError(f"{self.name}: cannot connect to registry {host}: {reason}")
        return ScanError(f"{self.name}: request to registry {host} failed: {exc}")

    def _schemes(self) -> list[str]:
        if self.options.insecure or is_loopback(self.ref.api_host):
            return ["https", "http"]
        return ["https"]

    def _ping(self) -> httpx.Response:
        """GET /v2/ to pick the scheme and learn the auth challenge."""
        if self._base:
            try:
                return self._client.get(f"{self._base}/v2/")
            except httpx.HTTPError as exc:
                raise self._fail_transport(exc, f"{self._base}/v2/") from None
        last: httpx.HTTPError | None = None
        schemes = self._schemes()
        for scheme in schemes:
            url = f"{scheme}://{self.ref.api_host}/v2/"
            try:
                response = self._client.get(url)
            except httpx.TimeoutException as exc:
                raise self._fail_transport(exc, url) from None
            except httpx.HTTPError as exc:
                # A TLS handshake against a plain-HTTP registry fails at connect time: only
                # then is falling back to HTTP meaningful.
                last = exc
                continue
            self._base = f"{scheme}://{self.ref.api_host}"
            return response
        assert last is not None
        error = self._fail_transport(last, f"https://{self.ref.api_host}/v2/")
        if schemes == ["https"] and isinstance(last, httpx.ConnectError):
            error = ScanError(f"{error}; if the registry speaks plain HTTP, pass --insecure")
        raise error

    def login(self) -> None:
        """Ping the registry and obtain credentials for pulling from the repository."""
        response = self._ping()
        if response.status_code == 401:
            self._answer_challenge(response)
        elif response.status_code >= 500:
            raise self._status_error(response, "the registry")
        # Any other answer (200, or 404 from registries that do not implement /v2/) means
        # there is no auth to do until a request says otherwise.

    def _answer_challenge(self, response: httpx.Response) -> None:
        header = response.headers.get("www-authenticate", "")
        scheme, params = parse_challenge(header)
        creds = self._credentials()
        if self.options.registry_token:
            self._auth = f"Bearer {self.options.registry_token}"
            return
        if scheme == "basic":
            if creds is None:
                raise ScanError(f"{self.name}: authentication required by {self.ref.api_host}; {AUTH_HINT}")
            token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            self._auth = f"Basic {token}"
            return
        if scheme == "bearer" and params.get("realm"):
            self._auth = f"Bearer {self._fetch_token(params, creds)}"
            return
        raise ScanError(
            f"{self.name}: registry {self.ref.api_host} asks for unsupported authentication {header!r}"
        )

    def _fetch_token(self, params: dict[str, str], creds: tuple[str, str] | None) -> str:
        realm = params["realm"]
        query: dict[str, str] = {}
        if params.get("service"):
            query["service"] = params["service"]
        query["scope"] = f"repository:{self.ref.repository}:pull"
        try:
            reply = self._client.get(realm, params=query, auth=creds)
        except httpx.HTTPError as exc:
            raise self._fail_transport(exc, realm) from None
        if reply.status_code in (401, 403):
            raise ScanError(
                f"{self.name}: authentication failed at token service {realm}"
                f" ({reply.status_code}); {AUTH_HINT}"
            )
        if reply.status_code != 200:
            raise ScanError(f"{self.name}: token service {realm} answered HTTP {reply.status_code}")
        try:
            data = orjson.loads(reply.content)
            token = data.get("token") or data.get("access_token")
        except (orjson.JSONDecodeError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise ScanError(f"{self.name}: token service {realm} returned no token")
        return token

    def _status_error(self, response: httpx.Response, what: str) -> ScanError:
        status = response.status_code
        if status in (401, 403):
            if self._auth is None and self._credentials() is None:
                return ScanError(
                    f"{self.name}: authentication required by {self.ref.api_host} (HTTP {status}); "
                    f"{AUTH_HINT}"
                )
            return ScanError(
                f"{self.name}: authentication failed at {self.ref.api_host} (HTTP {status}); "
                f"check the credentials ({AUTH_HINT})"
            )
        if status == 404:
            return ScanError(f"{self.name}: {what} not found (HTTP 404)")
        if status == 429:
            return ScanError(f"{self.name}: registry {self.ref.api_host} rate-limited the request (HTTP 429)")
        if status >= 500:
            return ScanError(
                f"{self.name}: registry {self.ref.api_host} failed with HTTP {status} for {what}; "
                "try again later"
            )
        return ScanError(f"{self.name}: registry {self.ref.api_host} answered HTTP {status} for {what}")

    def _send(self, path: str, headers: dict[str, str], what: str, *, stream: bool) -> httpx.Response:
        """One authenticated GET; a 401 with a fresh challenge is answered once and retried."""
        if not self._base:
            self.login()
        url = f"{self._base}/v2/{self.ref.repository}/{path}"
        for attempt in range(2):
            request_headers = dict(headers)
            if self._auth:
                request_headers["Authorization"] = self._auth
            try:
                request = self._client.build_request("GET", url, headers=request_headers)
                response = self._client.send(request, stream=stream)
            except httpx.HTTPError as exc:
                raise self._fail_transport(exc, url) from None
            if response.status_code == 401 and attempt == 0 and self._auth is None:
                response.close()
                self._answer_challenge(response)
                continue
            if response.status_code != 200:
                response.close()
                raise self._status_error(response, what)
            return response
        raise ScanError(f"{self.name}: authentication failed at {self.ref.api_host}; {AUTH_HINT}")

    # -- API ---------------------------------------------------------------------------------

    def get_manifest(self, reference: str, accept: list[str]) -> tuple[bytes, str, str]:
        """(body, media type, Docker-Content-Digest header) of a manifest or index."""
        response = self._send(
            f"manifests/{reference}", {"Accept": ", ".join(accept)}, f"manifest {reference}", stream=False
        )
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
        return response.content, content_type, response.headers.get("docker-content-digest", "")

    def get_blob(self, digest: str, what: str, limit: int) -> bytes:
        """A small blob (config) read whole, refusing one larger than `limit`."""
        response = self._send(f"blobs/{digest}", {}, f"{what} blob {digest}", stream=True)
        try:
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_bytes(1024 * 1024):
                total += len(chunk)
                if total > limit:
                    raise ScanError(f"{self.name}: {what} blob {digest} is larger than {limit} bytes")
                chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise self._fail_transport(exc, digest) from None
        finally:
            response.close()
        return b"".join(chunks)

    def open_blob(self, digest: str, what: str) -> IO[bytes]:
        """A layer blob as a stream over the HTTP response (the caller verifies the digest)."""
        response = self._send(f"blobs/{digest}", {}, f"{what} blob {digest}", stream=True)
        return io.BufferedReader(_ResponseStream(response, f"{self.name} {what}"), 1024 * 1024)
