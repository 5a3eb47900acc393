"""containerd and CRI-O through the Kubernetes CRI (``runtime.v1.RuntimeService``) over gRPC.

Both runtimes serve the same API on their unix socket (containerd's CRI plugin on
``/run/containerd/containerd.sock``, CRI-O on ``/var/run/crio/crio.sock``), so one client serves
both. Per new container: ``ContainerStatus`` (verbose, for the sandbox id and the privileged
flag that only the runtime's ``info`` JSON carries) and ``PodSandboxStatus`` for the pod's name,
namespace, uid and labels. Messages are encoded by hand (``protowire``): field numbers are those
of ``k8s.io/cri-api/pkg/apis/runtime/v1/api.proto``.

What comes from where:

- ``container.name``: ``ContainerStatus.metadata.name`` (the name in the pod spec, as Falco);
- ``container.image``: ``status.image.image`` (containerd reports the first repo tag);
  ``container.image.digest``: the digest of ``status.image_ref`` when it is a repo digest
  (``repo@sha256:...``); ``container.image.id``: ``status.image_id`` (newer runtimes) or an
  ``image_ref`` that is a bare ``sha256:`` id;
- ``container.labels``/``mounts``/``start_ts`` from the status; ``container.privileged`` from
  the verbose info (containerd: ``config.linux.security_context.privileged``; CRI-O:
  ``privileged``);
- ``k8s.*``: the sandbox's metadata and labels (the kubelet's ``io.kubernetes.pod.*`` labels
  are left out of ``k8s.pod.labels``, they have fields of their own), falling back to the
  container's ``io.kubernetes.pod.*`` labels when the sandbox is gone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from typing import Any

from yamori.sensor.interface import ContainerInfo, ContainerMount
from yamori.sensor.runtimes import protowire as pw

__all__ = [
    "DEFAULT_CONTAINERD_SOCKET",
    "DEFAULT_CRIO_SOCKET",
    "CriClient",
    "CriError",
    "container_info_from_cri",
    "default_containerd_socket",
    "default_crio_socket",
]

DEFAULT_CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
DEFAULT_CRIO_SOCKET = "/var/run/crio/crio.sock"
SERVICE = "/runtime.v1.RuntimeService/"
IMAGES = "/runtime.v1.ImageService/"

# CRI MountPropagation → the names Falco prints
_PROPAGATION = {0: "private", 1: "rslave", 2: "rshared"}
_K8S_PREFIX = "io.kubernetes.pod."


def _repository(ref: str) -> str:
    """``docker.io/acme/web:1.2`` → ``docker.io/acme/web`` (the tag dropped, digests kept out)."""
    ref = ref.partition("@")[0]
    colon = ref.rfind(":")
    return ref[:colon] if colon > ref.rfind("/") else ref


class CriError(Exception):
    """A CRI call failed for another reason than "no such container" (the message says why)."""


def default_containerd_socket() -> str:
    return os.environ.get("YAMORI_CONTAINERD_SOCKET") or DEFAULT_CONTAINERD_SOCKET


def default_crio_socket() -> str:
    return os.environ.get("YAMORI_CRIO_SOCKET") or DEFAULT_CRIO_SOCKET


def _mount(m: pw.Fields) -> ContainerMount:
    readonly = pw.boolean(m, 3)
    return ContainerMount(
        source=pw.string(m, 2),
        dest=pw.string(m, 1),
        mode="ro" if readonly else "",
        rdwr=not readonly,
        propagation=_PROPAGATION.get(pw.integer(m, 5), ""),
    )


def _privileged(info: dict[str, Any]) -> bool | None:
    """The privileged flag from a verbose status's ``info`` JSON (containerd or CRI-O shape)."""
    if isinstance(info.get("privileged"), bool):
        return bool(info["privileged"])
    config = info.get("config")
    if isinstance(config, dict):
        linux = config.get("linux") or {}
        sc = linux.get("security_context") or {} if isinstance(linux, dict) else {}
        if isinstance(sc, dict):
            return bool(sc.get("privileged", False))
    return None


def _verbose_info(response: pw.Fields) -> dict[str, Any]:
    raw = pw.string_map(response, 2).get("info")
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def container_info_from_cri(
    runtime: str, status_response: bytes, sandbox_response: bytes | None = None
) -> ContainerInfo | None:
    """A ``ContainerInfo`` from raw ``ContainerStatusResponse`` (and ``PodSandboxStatusResponse``)
    bytes; None when the response carries no container."""
    response = pw.decode(status_response)
    status = pw.message(response, 1)
    cid = pw.string(status, 1)
    if not cid:
        return None
    info = _verbose_info(response)
    labels = pw.string_map(status, 12)
    image = pw.string(pw.message(status, 8), 1) or None
    image_ref = pw.string(status, 9)
    image_id = pw.string(status, 17) or None
    digest = None
    if "@" in image_ref:
        digest = image_ref.partition("@")[2] or None
    elif image_ref.startswith("sha256:") and image_id is None:
        image_id = image_ref
    if image is not None and image.startswith("sha256:") and image_id is None:
        image_id = image
    started = pw.integer(status, 5)
    sandbox_id = str(info.get("sandboxID") or "") or None
    k8s_ns = labels.get(_K8S_PREFIX + "namespace")
    k8s_pod = labels.get(_K8S_PREFIX + "name")
    k8s_uid = labels.get(_K8S_PREFIX + "uid")
    pod_labels: dict[str, str] = {}
    if sandbox_response:
        sandbox = pw.message(pw.decode(sandbox_response), 1)
        meta = pw.message(sandbox, 2)
        sandbox_id = pw.string(sandbox, 1) or sandbox_id
        k8s_pod = pw.string(meta, 1) or k8s_pod
        k8s_uid = pw.string(meta, 2) or k8s_uid
        k8s_ns = pw.string(meta, 3) or k8s_ns
        pod_labels = {k: v for k, v in pw.string_map(sandbox, 7).items() if not k.startswith(_K8S_PREFIX)}
    return ContainerInfo(
        id=cid,
        name=pw.string(pw.message(status, 2), 1) or None,
        image=image,
        image_id=image_id,
        image_digest=digest,
        privileged=_privileged(info),
        mounts=tuple(_mount(m) for m in pw.messages(status, 14)),
        labels=labels,
        runtime=runtime,
        start_ns=started or None,
        k8s_ns=k8s_ns,
        k8s_pod_name=k8s_pod,
        k8s_pod_uid=k8s_uid,
        k8s_pod_labels=pod_labels,
        k8s_sandbox_id=sandbox_id,
        annotations=pw.string_map(status, 13),
    )


class CriClient:
    """A CRI runtime (containerd or CRI-O) on one unix socket; the channel is opened lazily."""

    def __init__(self, name: str, socket: str, *, timeout: float = 5.0) -> None:
        self.name = name
        self.socket = socket
        self.timeout = timeout
        self._channel: Any = None
        self._lock = threading.Lock()

    def available(self) -> bool:
        return bool(self.socket) and os.path.exists(self.socket)

    def call(
        self, method: str, request: bytes, timeout: float | None = None, *, service: str = SERVICE
    ) -> bytes | None:
        """One unary RuntimeService (or ``service``) call with raw message bytes; None for NOT_FOUND.

        Raises ``CriError`` for every other failure (daemon down, no CRI plugin, deadline).
        """
        import grpc  # imported on first use: grpc costs ~60 ms to import, most hosts need no CRI

        with self._lock:
            if self._channel is None:
                self._channel = grpc.insecure_channel(
                    f"unix://{self.socket}", options=[("grpc.max_receive_message_length", 16 << 20)]
                )
            channel = self._channel
        stub = channel.unary_unary(
            service + method, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        try:
            response = stub(request, timeout=self.timeout if timeout is None else timeout)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code == grpc.StatusCode.NOT_FOUND:
                return None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise CriError(f"{self.name} {method}: {code}: {details}") from None
        return bytes(response)

    def inspect(self, container_id: str) -> ContainerInfo | None:
        if not self.available():
            return None
        try:
            status = self.call("ContainerStatus", pw.encode([(1, container_id), (2, True)]))
            if status is None:
                return self._sandbox(container_id)
            info = container_info_from_cri(self.name, status)
            if info is None:
                return None
            sandbox_id = info.k8s_sandbox_id or self._sandbox_of(container_id)
            sandbox = None
            if sandbox_id:
                sandbox = self.call("PodSandboxStatus", pw.encode([(1, sandbox_id)]))
            if sandbox:
                info = container_info_from_cri(self.name, status, sandbox) or info
            if info.image_id is None and (info.image or info.image_digest):
                info = dataclasses.replace(info, image_id=self._image_id(info))
            return info
        except (CriError, pw.DecodeError):
            return None

    def _image_id(self, info: ContainerInfo) -> str | None:
        """The image id from ``ImageService/ImageStatus`` (containerd 1.6's status has none)."""
        refs = [info.image] if info.image else []
        if info.image_digest and info.image:  # exact: a tag may have moved since the container started
            refs.insert(0, f"{_repository(info.image)}@{info.image_digest}")
        for ref in refs:
            response = self.call("ImageStatus", pw.encode([(1, [(1, ref)])]), service=IMAGES)
            image_id = pw.string(pw.message(pw.decode(response or b""), 1), 1)
            if image_id:
                return image_id
        return None

    def _sandbox(self, sandbox_id: str) -> ContainerInfo | None:
        """A pod sandbox ("pause" container): its processes are in a cgroup of their own, but
        the CRI knows it only as a sandbox; give it the pod's fields."""
        response = self.call("PodSandboxStatus", pw.encode([(1, sandbox_id)]))
        if response is None:
            return None
        sandbox = pw.message(pw.decode(response), 1)
        if pw.string(sandbox, 1) != sandbox_id:
            return None
        meta = pw.message(sandbox, 2)
        return ContainerInfo(
            id=sandbox_id,
            name=pw.string(meta, 1) or None,
            runtime=self.name,
            labels=pw.string_map(sandbox, 7),
            start_ns=pw.integer(sandbox, 4) or None,
            k8s_ns=pw.string(meta, 3) or None,
            k8s_pod_name=pw.string(meta, 1) or None,
            k8s_pod_uid=pw.string(meta, 2) or None,
            k8s_pod_labels={
                k: v for k, v in pw.string_map(sandbox, 7).items() if not k.startswith(_K8S_PREFIX)
            },
            k8s_sandbox_id=sandbox_id,
            annotations=pw.string_map(sandbox, 8),
        )

    def _sandbox_of(self, container_id: str) -> str | None:
        """The pod sandbox of a container, from ``ListContainers`` (when verbose info lacks it)."""
        listing = self.call("ListContainers", pw.encode([(1, [(1, container_id)])]))
        for item in pw.messages(pw.decode(listing or b""), 1):
            if pw.string(item, 1) == container_id:
                return pw.string(item, 2) or None
        return None

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
                self._channel = None
