"""Real container runtimes for tests: containerd (with its CRI plugin) and Docker Engine.

Each daemon runs private to the test session: its own root, state, exec root and unix socket
under a temp directory (never ``/run/containerd`` or ``/var/run/docker.sock``), no CNI (pods use
the host network, ``NamespaceMode.NODE``), no iptables, no bridge. The image is a tiny one the
tests build in milliseconds from the host's own ``dash``, ``sleep`` and ``cat`` and their loader
and libc (``tiny_image_archive``), imported with ``ctr images import --digests`` (so the CRI
reports a repo digest) and ``docker load``; the same image is containerd's sandbox ("pause")
image. Containers of tests use ``--network none`` (docker) or the host network (CRI).

The fixtures skip (with the reason) when not root or a binary is missing; a daemon that does not
come up fails the test with its log, since that is a defect to look at, not a state to keep.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.oci import Dir, File, ImageSpec, Layer, Symlink, write_docker_archive
from yamori.sensor.runtimes import protowire as pw
from yamori.sensor.runtimes.cri import CriClient

TINY_REF = "docker.io/yamori-test/tiny:1"
TINY_REPO = "docker.io/yamori-test/tiny"

CONTAINERD_CONFIG = """\
version = 2
root = "{root}/root"
state = "{root}/state"
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox}"
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{root}/cni/bin"
    conf_dir = "{root}/cni/conf"
"""


def _host_file(path: str) -> bytes:
    return Path(path).resolve().read_bytes()


def tiny_image_spec() -> ImageSpec:
    """A one-layer image: ``/bin/sh`` (dash), ``sleep``, ``cat`` and what they load, plus an
    ``/etc/shadow`` for the sensitive-file rule. Uncompressed, as ``docker save`` writes it."""
    entries = [
        Dir("bin"),
        File("bin/sh", _host_file("/bin/dash"), 0o755),
        File("bin/sleep", _host_file("/bin/sleep"), 0o755),
        File("bin/cat", _host_file("/bin/cat"), 0o755),
        Dir("lib"),
        Dir("lib/x86_64-linux-gnu"),
        File("lib/x86_64-linux-gnu/libc.so.6", _host_file("/lib/x86_64-linux-gnu/libc.so.6"), 0o755),
        File(
            "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            _host_file("/lib64/ld-linux-x86-64.so.2"),
            0o755,
        ),
        Dir("lib64"),
        Symlink("lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
        Dir("etc"),
        File("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
        File("etc/group", b"root:x:0:\n"),
        File("etc/shadow", b"root:*:19000:0:99999:7:::\n", 0o640),
        Dir("tmp", 0o1777),
        Dir("proc"),
        Dir("sys"),
        Dir("dev"),
    ]
    return ImageSpec(
        layers=[Layer(entries, "none")],
        config={"Env": ["PATH=/bin"], "Cmd": ["/bin/sleep", "infinity"]},
        history=["yamori test: host dash, sleep, cat"],
    )


@pytest.fixture(scope="session")
def tiny_image_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny image as a ``docker save`` archive tagged ``TINY_REF`` (both daemons load it)."""
    if not Path("/lib64/ld-linux-x86-64.so.2").exists():
        pytest.skip("the tiny test image copies the host's x86-64 loader; this host has none")
    path = tmp_path_factory.mktemp("tiny-image") / "tiny.tar"
    write_docker_archive(path, tiny_image_spec(), repo_tags=[TINY_REF])
    return path


def _run(cmd: list[str], timeout: float = 60.0) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def _require(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("container runtimes need root (this machine runs rootful daemons only)")
    missing = [t for t in tools if shutil.which(t) is None and not Path(t).exists()]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (scripts/install-system-deps.sh test installs them)")


def _wait_socket(proc: subprocess.Popen[bytes], socket: Path, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if socket.exists():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"{socket} never appeared; daemon log:\n{log.read_text(errors='replace')[-4000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the daemon (it stops its shims and containers), SIGKILL after a grace period."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _kill_shims(root: Path) -> None:
    """Shims outlive their daemon by design; end the ones whose command line names our root."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "containerd-shim" in cmdline and str(root) in cmdline:
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)


def _unmount_below(directory: Path) -> None:
    mounts = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1].replace("\\040", " ")
            if target.startswith(str(directory) + "/"):
                mounts.append(target)
    for target in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def _short_dir(prefix: str) -> Path:
    """A fresh directory with a short path: unix socket paths are limited to 108 bytes and
    pytest's basetemp can be long."""
    return Path(tempfile.mkdtemp(prefix=f"ym-{prefix}-", dir="/tmp"))


NODE = 2  # CRI NamespaceMode.NODE: the host's namespace, so pods need no CNI
_HOST_NAMESPACES: list[tuple[int, pw.Value]] = [(1, NODE), (2, NODE), (3, NODE)]  # network, pid, ipc


@dataclass(frozen=True)
class Pod:
    sandbox_id: str
    name: str
    namespace: str
    uid: str
    config: list[tuple[int, pw.Value]]  # the PodSandboxConfig (CreateContainer repeats it)


@dataclass(frozen=True)
class Containerd:
    """A private containerd: ``socket`` serves its API and the CRI (``runtime.v1``)."""

    socket: Path
    root: Path
    image: str
    image_digest: str  # the repo digest ``ctr import --digests`` recorded

    def ctr(self, *args: str, timeout: float = 60.0) -> str:
        return _run(["ctr", "--address", str(self.socket), "-n", "k8s.io", *args], timeout=timeout)

    def cri(self) -> CriClient:
        return CriClient("containerd", str(self.socket), timeout=60.0)

    def run_pod(self, name: str, namespace: str, uid: str, labels: dict[str, str]) -> Pod:
        """RunPodSandbox on the host network, with the kubelet's ``io.kubernetes.pod.*`` labels."""
        kubelet = {
            "io.kubernetes.pod.name": name,
            "io.kubernetes.pod.namespace": namespace,
            "io.kubernetes.pod.uid": uid,
        }
        security: list[tuple[int, pw.Value]] = [(1, _HOST_NAMESPACES), (6, True)]  # privileged allowed
        config: list[tuple[int, pw.Value]] = [
            (1, [(1, name), (2, uid), (3, namespace), (4, 0)]),
            (3, str(self.root / "logs" / uid)),
            (6, {**labels, **kubelet}),
            (8, [(2, security)]),
        ]
        cri = self.cri()
        try:
            response = cri.call("RunPodSandbox", pw.encode([(1, config)]))
        finally:
            cri.close()
        return Pod(pw.string(pw.decode(response or b""), 1), name, namespace, uid, config)

    def run_container(
        self,
        pod: Pod,
        name: str,
        command: list[str],
        *,
        labels: dict[str, str] | None = None,
        mounts: tuple[tuple[str, str, bool], ...] = (),
        privileged: bool = False,
    ) -> str:
        """CreateContainer + StartContainer in ``pod``; returns the container id."""
        kubelet = {
            "io.kubernetes.pod.name": pod.name,
            "io.kubernetes.pod.namespace": pod.namespace,
            "io.kubernetes.pod.uid": pod.uid,
            "io.kubernetes.container.name": name,
        }
        security: list[tuple[int, pw.Value]] = [(2, privileged), (3, _HOST_NAMESPACES)]
        config: list[tuple[int, pw.Value]] = [(1, [(1, name)]), (2, [(1, self.image)])]
        config += [(3, command[0])] + [(4, arg) for arg in command[1:]]
        config += [(7, [(1, dest), (2, src), (3, ro)]) for src, dest, ro in mounts]
        config += [(9, {**(labels or {}), **kubelet}), (11, f"{name}.log"), (15, [(2, security)])]
        cri = self.cri()
        try:
            created = cri.call(
                "CreateContainer", pw.encode([(1, pod.sandbox_id), (2, config), (3, pod.config)])
            )
            cid = pw.string(pw.decode(created or b""), 1)
            cri.call("StartContainer", pw.encode([(1, cid)]))
        finally:
            cri.close()
        return cid

    def remove_pods(self) -> None:
        """Stop and remove every pod (and so its containers): nothing may outlive the test."""
        cri = self.cri()
        try:
            listing = cri.call("ListPodSandbox", b"")
            for item in pw.messages(pw.decode(listing or b""), 1):
                sid = pw.string(item, 1)
                cri.call("StopPodSandbox", pw.encode([(1, sid)]))
                cri.call("RemovePodSandbox", pw.encode([(1, sid)]))
        finally:
            cri.close()


@pytest.fixture(scope="module")
def containerd(tiny_image_archive: Path) -> Iterator[Containerd]:
    """A private containerd with the tiny image imported (module-scoped: ~1 s to start)."""
    _require("containerd", "ctr", "runc")
    root = _short_dir("ctd")
    socket = root / "c.sock"
    (root / "cni" / "bin").mkdir(parents=True)
    (root / "cni" / "conf").mkdir(parents=True)
    config = root / "config.toml"
    runc = shutil.which("runc") or "runc"
    config.write_text(CONTAINERD_CONFIG.format(root=root, socket=socket, sandbox=TINY_REF, runc=runc))
    log = root / "containerd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["containerd", "--config", str(config), "--log-level", "warn"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ctd = Containerd(socket=socket, root=root, image=TINY_REF, image_digest="")
    try:
        _wait_socket(proc, socket, log)
        ctd.ctr("images", "import", "--digests", "--base-name", TINY_REPO, str(tiny_image_archive))
        digest = ""
        for line in ctd.ctr("images", "ls", "-q").splitlines():
            if line.startswith(f"{TINY_REPO}@sha256:"):
                digest = line.split("@", 1)[1]
        ctd = Containerd(socket=socket, root=root, image=TINY_REF, image_digest=digest)
        yield ctd
    finally:
        if proc.poll() is None:
            with contextlib.suppress(Exception):
                ctd.remove_pods()
        _stop(proc)
        _kill_shims(root)
        _unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Docker:
    """A private dockerd: ``socket`` serves the Engine API."""

    socket: Path
    root: Path
    image: str

    def run(self, *args: str, timeout: float = 60.0) -> str:
        return _run([_docker_cli(), "-H", f"unix://{self.socket}", *args], timeout=timeout)


def _docker_cli() -> str:
    # Debian's docker.io client; /usr/local/bin may hold another program named docker
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")


@pytest.fixture(scope="module")
def docker(tiny_image_archive: Path) -> Iterator[Docker]:
    """A private dockerd (and the containerd it starts itself) with the tiny image loaded."""
    _require("dockerd", "containerd", "runc", _docker_cli())
    root = _short_dir("dkr")
    socket = root / "d.sock"
    log = root / "dockerd.log"
    args = [
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "--pidfile", str(root / "dockerd.pid"),
        "-H", f"unix://{socket}",
        "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--bridge=none",
        "--storage-driver", "overlay2",
        "--userland-proxy=false",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["dockerd", *args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    dk = Docker(socket=socket, root=root, image=TINY_REF)
    try:
        _wait_socket(proc, socket, log)
        deadline = time.monotonic() + 30
        while True:  # the socket appears before the API answers
            try:
                dk.run("version", timeout=10)
                break
            except RuntimeError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    tail = log.read_text(errors="replace")[-4000:]
                    raise RuntimeError(f"dockerd never answered:\n{tail}") from None
                time.sleep(0.2)
        dk.run("load", "-q", "-i", str(tiny_image_archive))
        yield dk
    finally:
        if proc.poll() is None:
            with contextlib.suppress(Exception):
                ids = dk.run("ps", "-aq", timeout=20).split()
                if ids:
                    dk.run("rm", "-f", "-v", *ids, timeout=60)
        _stop(proc)
        _kill_shims(root)
        _unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)
