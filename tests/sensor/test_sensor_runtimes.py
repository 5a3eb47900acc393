"""Container metadata from real runtimes: containerd's CRI and Docker Engine, private daemons.

The daemons (``support.runtimes``) start once for this module, each on its own socket under
/tmp, and are stopped (pods and containers removed first) at the end, failures included. The
resolver is pointed at their sockets and must return what the runtime was told: name, image
reference and digest, labels, mounts, privileged flag, and for CRI pods the pod's name,
namespace, uid and labels. The end-to-end test runs the real sensor and checks that an alert
from a containerd container and one from a docker container carry those fields.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from support.registry import RegistryServer
from support.runtimes import TINY_REF, TINY_REPO, Containerd, Docker, containerd, docker, tiny_image_archive
from support.sensor import STABLE, Sensor
from support.sensor_context import FakeContext
from yamori.cli.main import app
from yamori.detect.fields.syscall import SyscallEvent
from yamori.sensor.containers import ContainerResolver, container_id_of_pid, runtime_of_cgroup_name
from yamori.sensor.hostinfo import host_info
from yamori.sensor.interface import (
    ContainerInfo,
    ContainerMount,
    HostInfo,
    ProcessInfo,
    RawRecord,
    RecordKind,
)
from yamori.sensor.runtimes import protowire as pw
from yamori.sensor.runtimes import registry
from yamori.sensor.runtimes.cri import container_info_from_cri
from yamori.sensor.runtimes.docker import pick_repo_digest

__all__ = ["containerd", "docker", "tiny_image_archive"]  # fixtures, registered by the import

CID = "c0" * 32


# ------------------------------------------------------------------------------ units


def test_protowire_round_trip() -> None:
    data = pw.encode(
        [(1, "abc"), (2, True), (3, [(1, "nested"), (4, -1)]), (6, {"k": "v", "a": "b"}), (7, 300)]
    )
    fields = pw.decode(data)
    assert pw.string(fields, 1) == "abc" and pw.boolean(fields, 2) and pw.integer(fields, 7) == 300
    nested = pw.message(fields, 3)
    assert pw.string(nested, 1) == "nested" and pw.integer(nested, 4) == -1
    assert pw.string_map(fields, 6) == {"k": "v", "a": "b"}
    assert pw.message(fields, 99) == {} and pw.string(fields, 99) == ""
    with pytest.raises(pw.DecodeError):
        pw.decode(data[:-1])


def test_container_info_from_cri_bytes() -> None:
    """A ContainerStatusResponse as containerd 1.6 answers it (verbose), plus a sandbox status."""
    info_json = json.dumps(
        {"sandboxID": "5b" * 32, "config": {"linux": {"security_context": {"privileged": True}}}}
    )
    status = [
        (1, CID), (2, [(1, "app"), (2, 0)]), (3, 1), (4, 1), (5, 1_700_000_000_123_456_789),
        (8, [(1, "docker.io/acme/web:1.2")]), (9, "docker.io/acme/web@sha256:" + "d" * 64),
        (12, {"tier": "front", "io.kubernetes.pod.name": "old"}),
        (14, [(1, "/data"), (2, "/srv/data"), (3, True), (5, 1)]),
        (14, [(1, "/logs"), (2, "/var/log/app")]),
    ]  # fmt: skip
    response = pw.encode([(1, status), (2, {"info": info_json})])
    sandbox = pw.encode(
        [
            (
                1,
                [
                    (1, "5b" * 32),
                    (2, [(1, "web-0"), (2, "uid-1"), (3, "prod")]),
                    (7, {"app": "web", "io.kubernetes.pod.name": "web-0"}),
                ],
            )
        ]
    )
    info = container_info_from_cri("containerd", response, sandbox)
    assert info is not None
    assert (info.id, info.name, info.image, info.runtime) == (
        CID,
        "app",
        "docker.io/acme/web:1.2",
        "containerd",
    )
    assert info.image_digest == "sha256:" + "d" * 64 and info.privileged is True
    assert info.mounts == (
        ContainerMount("/srv/data", "/data", "ro", False, "rslave"),
        ContainerMount("/var/log/app", "/logs", "", True, "private"),
    )
    assert (info.k8s_pod_name, info.k8s_ns, info.k8s_pod_uid) == ("web-0", "prod", "uid-1")
    assert info.k8s_pod_labels == {"app": "web"} and info.k8s_sandbox_id == "5b" * 32
    assert info.start_ns == 1_700_000_000_123_456_789
    assert container_info_from_cri("containerd", pw.encode([(1, [])])) is None


def test_runtime_of_cgroup_name_and_repo_digest() -> None:
    assert runtime_of_cgroup_name(f"cri-containerd-{CID}.scope") == "containerd"
    assert runtime_of_cgroup_name(f"crio-{CID}.scope") == "cri-o"
    assert runtime_of_cgroup_name(f"docker-{CID}.scope") == "docker"
    assert runtime_of_cgroup_name(f"libpod-{CID}") == "podman"
    assert runtime_of_cgroup_name(CID) is None and runtime_of_cgroup_name("crio-conmon-x") is None
    digests = ["127.0.0.1:5000/acme/web@sha256:aa", "docker.io/acme/web@sha256:bb"]
    assert pick_repo_digest("acme/web:1", digests) == "sha256:bb"
    assert pick_repo_digest("127.0.0.1:5000/acme/web:1", digests) == "sha256:aa"
    assert pick_repo_digest("other:1", digests) == "sha256:aa" and pick_repo_digest("x", []) is None
    with pytest.raises(ValueError, match="unknown runtime"):
        registry.clients({"rkt": "/x"})


class _Recorder:
    """A runtime that knows nothing and records being asked (resolver ordering, not an API)."""

    def __init__(self, name: str, asked: list[str]) -> None:
        self.name, self.socket, self.asked = name, "", asked

    def available(self) -> bool:
        return True

    def inspect(self, container_id: str) -> ContainerInfo | None:
        self.asked.append(self.name)
        return ContainerInfo(id=container_id, runtime=self.name) if self.name == "cri-o" else None

    def close(self) -> None:
        pass


def test_resolver_asks_the_cgroup_runtime_first() -> None:
    asked: list[str] = []
    resolver = ContainerResolver(clients=[_Recorder(n, asked) for n in registry.RUNTIMES])
    resolver.hint(CID, runtime_of_cgroup_name(f"crio-{CID}.scope"))
    assert resolver.get(CID).runtime == "cri-o" and asked == ["cri-o"]
    asked.clear()
    assert resolver.get("d" * 64).runtime == "cri-o" and asked == ["podman", "docker", "containerd", "cri-o"]
    resolver.close()


def _event(info: ContainerInfo, host: HostInfo | None = None) -> SyscallEvent:
    proc = ProcessInfo(pid=7, ppid=1, comm="cat", container_id=info.id)
    ctx = FakeContext(proc, info, host=host, user=None)
    rec = RawRecord(RecordKind.SYSCALL, 5, 7, 7, "openat", res=3, args={"name": "/etc/shadow", "flags": 0})
    return SyscallEvent(rec, proc, ctx)


def test_container_k8s_and_cloud_fields() -> None:
    info = ContainerInfo(
        id=CID, name="app", image="docker.io/acme/web:1.2", image_digest="sha256:" + "d" * 64,
        privileged=True,
        mounts=(ContainerMount("/srv/data", "/data", "ro", False, "rslave"), ContainerMount("/h", "/c")),
        labels={"tier": "front"}, runtime="containerd", k8s_ns="prod", k8s_pod_name="web-0",
        k8s_pod_uid="uid-1", k8s_pod_labels={"app": "web", "team": "a"}, k8s_sandbox_id="5b" * 32,
    )  # fmt: skip
    host = HostInfo("node-1", "aws", "123456789012", "eu-west-1", "eu-west-1a", "i-0abc", "t3.micro", "ami-1")
    e = _event(info, host)
    assert e.value("container.mounts") == "/srv/data:/data:ro:false:rslave,/h:/c::true:"
    assert e.value("container.mount", "0") == "/srv/data:/data:ro:false:rslave"
    assert e.value("container.mount", "/h") == "/h:/c::true:"
    assert e.value("container.mount.source", "/data") == "/srv/data"
    assert e.value("container.mount.source", "1") == "/h"
    assert e.value("container.mount.dest", "/srv/data") == "/data"
    assert e.value("container.mount.rdwr", "/srv/data") == "false"
    assert (
        e.value("container.mount.propagation", "0") == "rslave"
        and e.value("container.mount.mode", "0") == "ro"
    )
    assert e.value("container.mount", "5") is None
    assert e.value("container.privileged") is True and e.value("container.labels") == "tier:front"
    assert e.value("container.image.digest") == "sha256:" + "d" * 64
    assert (e.value("k8s.ns.name"), e.value("k8s.pod.name"), e.value("k8s.pod.uid")) == (
        "prod",
        "web-0",
        "uid-1",
    )
    assert e.value("k8s.pod.label", "app") == "web" and e.value("k8s.pod.labels") == "app:web, team:a"
    assert e.value("k8s.pod.sandbox_id") == "5b" * 6
    assert e.value("evt.hostname") == "node-1" and e.value("cloud.account.id") == "123456789012"
    assert (e.value("cloud.region"), e.value("cloud.instance.id")) == ("eu-west-1", "i-0abc")
    assert _event(info).value("cloud.region") is None
    labelled = ContainerInfo(
        id=CID, labels={"io.kubernetes.pod.name": "p", "io.kubernetes.pod.namespace": "n"}
    )
    assert (_event(labelled).value("k8s.pod.name"), _event(labelled).value("k8s.ns.name")) == ("p", "n")


def test_cli_rejects_a_bad_runtime_socket(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("[]\n")
    result = CliRunner().invoke(app, ["sensor", "--rules", str(rules), "--runtime-socket", "rkt=/x"])
    assert result.exit_code == 2
    assert "--runtime-socket 'rkt=/x': expected RUNTIME=PATH, RUNTIME one of podman" in result.output


# ------------------------------------------------------------------------------ IMDSv2


class _Imds(http.server.BaseHTTPRequestHandler):
    """The two IMDSv2 calls, with the token check EC2 does (a 401 without it)."""

    document: dict[str, Any] = {
        "accountId": "123456789012", "region": "eu-west-1", "availabilityZone": "eu-west-1b",
        "instanceId": "i-0123456789abcdef0", "instanceType": "t3.micro", "imageId": "ami-0abc",
    }  # fmt: skip

    def do_PUT(self) -> None:
        ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self._reply(200 if ok else 400, b"TOKEN123" if ok else b"")

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != "TOKEN123":
            self._reply(401, b"")
        elif self.path == "/latest/dynamic/instance-identity/document":
            self._reply(200, json.dumps(self.document).encode())
        else:
            self._reply(404, b"")

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def imds() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Imds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_host_info_from_imdsv2(imds: str) -> None:
    host = host_info(aws=True, endpoint=imds, hostname="node-1")
    assert host == HostInfo(
        "node-1",
        "aws",
        "123456789012",
        "eu-west-1",
        "eu-west-1b",
        "i-0123456789abcdef0",
        "t3.micro",
        "ami-0abc",
    )
    assert host_info(aws=False, endpoint=imds).account_id is None  # off unless asked
    start = time.monotonic()
    port = int(imds.rsplit(":", 1)[1])
    gone = host_info(aws=True, endpoint=f"http://127.0.0.1:{port + 1 if port < 65535 else 1}", timeout=0.5)
    assert gone.cloud_provider is None and time.monotonic() - start < 5


# ------------------------------------------------------------------------------ real daemons


def _pid_of(container_id: str, timeout: float = 10.0) -> int:
    """A process of the container, found the way the sensor finds containers: by cgroup."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and container_id_of_pid(int(entry.name)) == container_id:
                return int(entry.name)
        time.sleep(0.1)
    raise AssertionError(f"no process in container {container_id}")


def _resolver(**sockets: str) -> ContainerResolver:
    return ContainerResolver(clients=registry.clients(sockets, podman_sockets=[], podman=None))


def test_containerd_cri_metadata(containerd: Containerd) -> None:
    pod = containerd.run_pod("web-0", "prod", "uid-web-0", {"app": "web", "team": "blue"})
    cid = containerd.run_container(
        pod,
        "app",
        ["/bin/sleep", "300"],
        labels={"tier": "front"},
        mounts=((str(containerd.root), "/data", True),),
    )
    priv = containerd.run_container(pod, "tool", ["/bin/sleep", "300"], privileged=True)
    assert container_id_of_pid(_pid_of(cid)) == cid  # the cgroup names the CRI container id

    resolver = _resolver(containerd=str(containerd.socket))
    info = resolver.get(cid)
    assert (info.id, info.name, info.runtime) == (cid, "app", "containerd")
    assert info.image == TINY_REF and info.image_digest == containerd.image_digest != ""
    assert info.labels["tier"] == "front" and info.labels["io.kubernetes.container.name"] == "app"
    assert (info.k8s_pod_name, info.k8s_ns, info.k8s_pod_uid) == ("web-0", "prod", "uid-web-0")
    assert info.k8s_pod_labels == {"app": "web", "team": "blue"} and info.k8s_sandbox_id == pod.sandbox_id
    assert ContainerMount(str(containerd.root), "/data", "ro", False, "private") in info.mounts
    assert info.privileged is False and info.start_ns is not None
    assert resolver.get(priv).privileged is True and resolver.get(priv).name == "tool"
    assert resolver.get("e" * 64) == ContainerInfo(id="e" * 64)  # unknown: id only, no error
    assert info.image_id is not None and info.image_id in containerd.ctr("images", "ls", "-q").split()
    sandbox = resolver.get(pod.sandbox_id)  # the pause process's cgroup names the sandbox
    assert (sandbox.k8s_pod_name, sandbox.k8s_ns, sandbox.runtime) == ("web-0", "prod", "containerd")
    e = _event(info)
    assert (e.value("container.image.repository"), e.value("container.image.tag")) == (TINY_REPO, "1")
    assert e.value("k8s.pod.label", "team") == "blue" and e.value("container.mount.source", "/data") == str(
        containerd.root
    )
    resolver.close()


def test_docker_engine_metadata(docker: Docker, registry: RegistryServer) -> None:
    pushed = f"{registry.host}/yamori-test/tiny:1"
    docker.run("tag", TINY_REF, pushed)
    docker.run("push", "-q", pushed)  # RepoDigests exist only for pushed or pulled images
    volume = docker.root / "vol"
    volume.mkdir()
    cid = docker.run(
        "run", "-d", "--network", "none", "--name", "yamori-dk1", "--label", "tier=back",
        "-v", f"{volume}:/data:ro", pushed, "/bin/sleep", "300",
    ).strip()  # fmt: skip
    # created, not started: docker --privileged asks for CAP_SYS_RESOURCE, which this class of
    # machine withholds from root (runc: "unable to apply caps"); the API answers the same
    priv = docker.run("create", "--network", "none", "--privileged", TINY_REF, "/bin/sleep", "300").strip()
    assert container_id_of_pid(_pid_of(cid)) == cid

    resolver = _resolver(docker=str(docker.socket))
    info = resolver.get(cid)
    image = json.loads(docker.run("image", "inspect", pushed))[0]
    assert (info.name, info.image, info.runtime) == ("yamori-dk1", pushed, "docker")
    assert info.image_id == image["Id"] and info.image_digest == image["RepoDigests"][0].split("@")[1]
    assert info.labels == {"tier": "back"} and info.privileged is False
    assert ContainerMount(str(volume), "/data", "ro", False, "rprivate") in info.mounts
    assert info.upper_dir is not None and Path(info.upper_dir).is_dir()
    other = resolver.get(priv)
    assert other.privileged is True and other.image == TINY_REF
    # same image, tagged for another repository: its only repo digest is still its manifest's
    assert other.image_digest == info.image_digest
    resolver.close()


def _alert_for(sensor: Sensor, act: Callable[[str], object], name: str) -> dict[str, Any]:
    """Act in a fresh container until the sensor reports it (up to three tries).

    Why more than one: on a busy machine the kernel may drop events (the sensor counts them as
    ``lost``), and a `cat` lives for a millisecond; the metadata checks hold for any attempt.
    """
    for attempt in range(1, 4):
        act(f"{name}-{attempt}")
        try:
            return sensor.wait_rule("Read sensitive file untrusted", f"{name}-{attempt}", timeout=10)[1]
        except AssertionError:
            if attempt == 3:
                raise
    raise AssertionError("unreachable")


def test_sensor_alerts_carry_runtime_metadata(
    capture_ready: None, containerd: Containerd, docker: Docker
) -> None:
    """The real sensor: `cat /etc/shadow` in a CRI pod and in a docker container."""
    if not STABLE.exists():
        pytest.skip(f"{STABLE} is not present")
    pod = containerd.run_pod("shadow-pod", "audit", "uid-shadow", {"app": "shadow"})
    sensor = Sensor(
        dict(os.environ),
        "--runtime-socket", f"containerd={containerd.socket}",
        "--runtime-socket", f"docker={docker.socket}",
    )  # fmt: skip
    try:
        sensor.wait_ready()
        alert = _alert_for(
            sensor, lambda n: containerd.run_container(pod, n, ["/bin/cat", "/etc/shadow"]), "reader"
        )
        fields = alert["output_fields"]
        assert fields["container.image.repository"] == TINY_REPO and fields["container.image.tag"] == "1"
        assert (fields["k8s.pod.name"], fields["k8s.ns.name"]) == ("shadow-pod", "audit")
        alert = _alert_for(
            sensor,
            lambda n: docker.run(
                "run", "--network", "none", "--name", n, TINY_REF, "/bin/cat", "/etc/shadow"
            ),
            "yamori-shadow",
        )
        fields = alert["output_fields"]
        assert fields["container.image.repository"] == TINY_REPO and fields["container.image.tag"] == "1"
        assert fields["k8s.pod.name"] is None
    finally:
        print("\n".join(sensor.stop()))
