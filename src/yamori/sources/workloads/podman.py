"""Running containers from podman (``podman ps`` + one ``podman inspect``) as workload records.

Why the CLI rather than podman's REST socket: the socket exists only while ``podman system
service`` runs, which a plain host usually does not; the CLI answers everywhere podman works
and sees exactly the storage the user's podman sees (``CONTAINERS_CONF``,
``CONTAINERS_STORAGE_CONF`` are honoured because the child inherits the environment). Two
forks per report, whatever the number of containers.

Kubernetes context comes from the labels CRI runtimes and ``podman kube play`` set
(``io.kubernetes.pod.namespace``, ``io.kubernetes.pod.name``, ``io.kubernetes.container.name``,
``io.kubernetes.pod.uid``). Nothing here reads a Kubernetes API: live cluster objects are
another source.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1
K8S_LABELS = {
    "namespace": "io.kubernetes.pod.namespace",
    "pod": "io.kubernetes.pod.name",
    "k8s_container": "io.kubernetes.container.name",
    "pod_uid": "io.kubernetes.pod.uid",
}
TIMEOUT = 60.0


class WorkloadError(RuntimeError):
    """podman is missing or failed; the message says which and what to do."""


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _sha(value: str) -> str:
    """Image ids as ``sha256:<hex>``: podman prints bare hex, scans keep the prefixed digest."""
    return value if not value or ":" in value else f"sha256:{value}"


def workload_from_inspect(doc: dict[str, Any], host: str) -> dict[str, Any]:
    """One ``podman inspect`` object → one workload record (see ``WorkloadPayload``)."""
    config = doc.get("Config") or {}
    host_config = doc.get("HostConfig") or {}
    state = doc.get("State") or {}
    raw_labels = config.get("Labels") or {}
    labels = {str(k): _text(v) for k, v in raw_labels.items()} if isinstance(raw_labels, dict) else {}
    mounts = []
    for mount in doc.get("Mounts") or []:
        if isinstance(mount, dict):
            mode = "rw" if mount.get("RW", True) else "ro"
            mounts.append(f"{_text(mount.get('Source'))}:{_text(mount.get('Destination'))}:{mode}")
    command = [str(part) for part in (config.get("Cmd") or []) if part is not None]
    entrypoint = config.get("Entrypoint") or []
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint]
    record: dict[str, Any] = {
        "id": _text(doc.get("Id")),
        "name": _text(doc.get("Name")).lstrip("/"),
        "image": _text(doc.get("ImageName") or config.get("Image")),
        "image_id": _sha(_text(doc.get("Image"))),
        "image_digest": _text(doc.get("ImageDigest")),
        "state": _text(state.get("Status")) or "unknown",
        "created": _text(doc.get("Created")),
        "started": _text(state.get("StartedAt")),
        "privileged": bool(host_config.get("Privileged", False)),
        "user": _text(config.get("User")),
        "command": [str(part) for part in entrypoint] + command,
        "labels": labels,
        "mounts": mounts,
        "pod_id": _text(doc.get("Pod")),
        "host": host,
        "runtime": "podman" if "ImageName" in doc else "docker",
    }
    for field, label in K8S_LABELS.items():
        record[field] = labels.get(label, "")
    return record


def _podman(podman: str, args: list[str], env: dict[str, str] | None) -> str:
    try:
        proc = subprocess.run(
            [podman, *args], capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise WorkloadError(f"podman {args[0]} did not answer within {TIMEOUT:.0f}s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise WorkloadError(f"podman {' '.join(args[:2])} failed: {last[:300]}")
    return proc.stdout


def collect_podman(
    *, all_containers: bool = False, env: dict[str, str] | None = None, host: str | None = None
) -> dict[str, Any]:
    """The workload report of this host's podman: running containers (every one with
    ``all_containers``), in ``yamori workloads -f json`` shape."""
    podman = shutil.which("podman", path=(env or {}).get("PATH"))
    if podman is None:
        raise WorkloadError("podman is not installed: no containers to report (apt-get install podman)")
    host = host or socket.gethostname()
    listing = _podman(podman, ["ps", "--format", "json", *(["--all"] if all_containers else [])], env)
    try:
        rows = json.loads(listing or "[]")
    except json.JSONDecodeError:
        raise WorkloadError("podman ps printed something other than JSON") from None
    ids = [
        str(row["Id"]) for row in rows if isinstance(row, dict) and row.get("Id") and not row.get("IsInfra")
    ]
    workloads: list[dict[str, Any]] = []
    if ids:
        try:
            docs = json.loads(_podman(podman, ["container", "inspect", *ids], env) or "[]")
        except WorkloadError:
            # a container removed between ps and inspect: inspect them one by one, skip the gone
            docs = []
            for cid in ids:
                try:
                    docs.extend(json.loads(_podman(podman, ["container", "inspect", cid], env) or "[]"))
                except (WorkloadError, json.JSONDecodeError):
                    continue
        except json.JSONDecodeError:
            raise WorkloadError("podman container inspect printed something other than JSON") from None
        workloads = [workload_from_inspect(doc, host) for doc in docs if isinstance(doc, dict)]
    workloads.sort(key=lambda w: (w["name"], w["id"]))
    return {
        "schema_version": SCHEMA_VERSION,
        "host": host,
        "runtime": "podman",
        "collected_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "workloads": workloads,
    }
