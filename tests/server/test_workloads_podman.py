# ruff: noqa: F811  (the podman fixture is imported from support.podman)
"""Workloads from a real podman (private storage, runc, ``--network none``): the collector, the
``yamori workloads`` command sending to a live server, and ``yamori up``'s ingestion of them.

Skips, with the reason, where podman cannot run a container (not root, no podman/runc).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from server.payloads import auth
from support.podman import Podman, podman  # noqa: F401  (fixture)
from support.server import serve_in_thread
from yamori.cli.main import app as cli
from yamori.cli.up import Background
from yamori.sources.workloads import collect_podman
from yamori.store import Store
from yamori.store.ingest import ingest_image_scan
from yamori.store.payloads import ImageScanPayload

XSS = '<img src=x onerror="window.__xss = 1">'


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the store side runs on both backends in test_workloads.py."""
    return f"sqlite:///{tmp_path / 'workloads.sqlite'}"


@pytest.fixture
def container(podman: Podman) -> Iterator[str]:
    """A privileged container with Kubernetes labels (as CRI / `podman kube play` set them)."""
    run = podman.run(
        "run", "-d", "--network", "none", "--privileged", "--name", "shop-web",
        "--label", "io.kubernetes.pod.namespace=shop", "--label", "io.kubernetes.pod.name=web-7d9f",
        "--label", "io.kubernetes.container.name=web", "--label", f"note={XSS}",
        podman.image, "sleep", "120",
    )  # fmt: skip
    cid = run.stdout.strip()
    try:
        yield cid
    finally:
        podman.run("rm", "-f", "-t", "0", cid, check=False)


@pytest.fixture
def live(store: Store, tokens: dict[str, str]) -> Iterator[str]:
    with serve_in_thread(store) as url:
        yield url


def test_podman_containers_become_workloads(
    podman: Podman, container: str, live: str, tokens: dict[str, str], store: Store
) -> None:
    report = collect_podman(env=podman.env, host="node-1")
    (web,) = [w for w in report["workloads"] if w["id"] == container]
    assert web["name"] == "shop-web" and web["state"] == "running" and web["privileged"] is True
    assert web["image"] == podman.image and web["image_id"].startswith("sha256:")
    assert (web["namespace"], web["pod"], web["k8s_container"]) == ("shop", "web-7d9f", "web")
    assert web["labels"]["note"] == XSS and web["command"][-2:] == ["sleep", "120"]

    # The image as a scan would store it (its config digest is the container's image id).
    scan = {"artifact": {"name": podman.image, "image_id": web["image_id"]}, "packages": [], "findings": []}
    with store.session() as session:
        ingest_image_scan(session, ImageScanPayload.model_validate(scan), "test")

    runner = CliRunner(env={k: v for k, v in podman.env.items() if k.startswith("CONTAINERS_")})
    table = runner.invoke(cli, ["workloads"])
    assert table.exit_code == 0, table.output
    assert "shop-web" in table.stdout and "shop/web-7d9f" in table.stdout
    sent = runner.invoke(
        cli,
        ["workloads", "-f", "json", "--server", live, "--token", tokens["agent"]],
    )
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["workloads"] and "submitted to" in sent.stderr

    viewer = auth(tokens["viewer"])
    items = httpx.get(f"{live}/api/v1/assets", params={"kind": "container"}, headers=viewer).json()["items"]
    (asset,) = [a for a in items if a["key"] == container]
    detail = httpx.get(f"{live}/api/v1/assets/{asset['id']}", headers=viewer).json()
    assert detail["links"]["image"]["name"] == podman.image
    assert detail["links"]["image"]["matched_by"] == "image id"

    # `yamori up`'s path: the same report stored in process; a stopped container is kept, not running.
    podman.run("stop", "-t", "0", container)
    assert Background(store).workloads(env=podman.env, quiet=True)
    detail = httpx.get(f"{live}/api/v1/assets/{asset['id']}", headers=viewer).json()
    assert detail["attributes"]["state"] == "not running"


def test_workloads_command_without_podman_says_so(tmp_path: Path) -> None:
    runner = CliRunner(env={"PATH": str(tmp_path)})
    answer = runner.invoke(cli, ["workloads"])
    assert answer.exit_code == 2 and "podman is not installed" in answer.stderr
