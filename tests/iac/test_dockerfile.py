"""Dockerfile adapter and image-config mapping: stages, continuations, heredocs, forms,
variables, normalised attributes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yamori.model.artifact import ArtifactInfo, LayerInfo
from yamori.model.resource import UNKNOWN, Resource
from yamori.sources.iac import adapter, scan
from yamori.sources.iac.dockerfile import image_config_resource, parse_image_ref, runs_as_root

DOCKER = adapter("dockerfile")
FIXTURES = Path(__file__).parent.parent / "fixtures" / "iac-docker"


def load_text(tmp_path: Path, text: str, name: str = "Dockerfile") -> tuple[Resource | None, list[str]]:
    (tmp_path / name).write_text(text)
    result = DOCKER.load(tmp_path / name, root=tmp_path)
    return (result.resources[0] if result.resources else None), [str(e) for e in result.errors]


def test_multi_stage_fixture() -> None:
    result = DOCKER.load(FIXTURES / "Dockerfile", root=FIXTURES)
    assert result.errors == []
    (res,) = result.resources
    assert (res.kind, res.id, res.source, res.location) == (
        "docker.dockerfile",
        "Dockerfile",
        "dockerfile",
        "Dockerfile:4",
    )
    build, final = res.attributes["stages"]
    assert build["name"] == "build"
    assert build["base"] == {"image": "python", "tag": "3.12.4-slim-bookworm", "digest": ""}
    assert final["base"]["digest"].startswith("sha256:0d3a")
    assert [i["cmd"] for i in final["instructions"]] == [
        "FROM", "RUN", "COPY", "RUN", "ENV", "EXPOSE", "USER", "HEALTHCHECK", "CMD",
    ]  # fmt: skip
    run = final["instructions"][1]
    assert run["line"] == 10
    assert "rm -rf /var/lib/apt/lists/*" in run["args"]  # continuation lines joined
    assert final["instructions"][2]["flags"] == ["--from=build"]
    assert final["instructions"][7]["flags"] == ["--interval=30s"]
    assert final["instructions"][8]["form"] == "exec"
    attrs = res.attributes
    assert attrs["User"] == "app" and attrs["RunsAsRoot"] is False
    assert attrs["Healthcheck"] == "present"
    assert attrs["Env"] == ["APP_HOME", "PORT"]
    assert attrs["Args"] == ["PYTHON"]
    assert attrs["Expose"] == ["8080/tcp"]
    assert attrs["BaseImage"]["tag"] == "3.12.4-slim-bookworm"
    assert res.origins["User"] == "Dockerfile:18"
    assert res.origins["Healthcheck"] == "Dockerfile:19"
    assert res.origins["Run[0]"] == "Dockerfile:10"


def test_final_stage_inherits_from_its_stage_chain(tmp_path: Path) -> None:
    res, errors = load_text(
        tmp_path,
        "FROM alpine:3.20 AS base\nUSER app\nENV A=1\nFROM base AS mid\nHEALTHCHECK NONE\n"
        "FROM debian:12 AS other\nUSER root\nFROM mid\nEXPOSE 53/UDP 80\n",
    )
    assert errors == [] and res is not None
    assert res.attributes["User"] == "app"
    assert res.attributes["Healthcheck"] == "NONE"
    assert res.attributes["Env"] == ["A"]
    assert res.attributes["Expose"] == ["53/udp", "80/tcp"]
    assert res.attributes["BaseImage"] == {"image": "alpine", "tag": "3.20", "digest": ""}


def test_no_user_means_root_and_variables(tmp_path: Path) -> None:
    res, errors = load_text(
        tmp_path,
        "ARG BASE=debian\nARG TAG\nFROM ${BASE}:${TAG:-12}\nARG UID\nUSER ${UID}\n",
    )
    assert errors == [] and res is not None
    assert res.attributes["BaseImage"] == {"image": "debian", "tag": "12", "digest": ""}
    assert res.attributes["User"] is UNKNOWN and res.attributes["RunsAsRoot"] is UNKNOWN
    res, _ = load_text(tmp_path, "FROM scratch\nCOPY app /\n")
    assert res is not None and res.attributes["User"] == "" and res.attributes["RunsAsRoot"] is True
    assert "Healthcheck" not in res.attributes


def test_heredoc_escape_directive_and_json_form(tmp_path: Path) -> None:
    res, errors = load_text(
        tmp_path,
        "# escape=`\nFROM mcr.microsoft.com/windows:ltsc2022\nRUN echo a `\n    && echo b\n"
        'RUN <<EOF\napk update\napk add curl\nEOF\nRUN ["apt-get", "update"]\n',
    )
    assert errors == [] and res is not None
    commands = [r["command"] for r in res.attributes["Run"]]
    assert commands == ["echo a     && echo b", "apk update\napk add curl", "apt-get update"]
    assert res.attributes["Run"][1]["line"] == 5


def test_add_sources_are_classified(tmp_path: Path) -> None:
    res, _ = load_text(
        tmp_path,
        "FROM debian:12\nADD https://x/a.tgz /a\nADD --checksum=sha256:abc https://x/b /b\n"
        "ADD vendor.tar.xz /v\nADD conf.ini /etc/\n",
    )
    assert res is not None
    adds = [(a["remote"], a["archive"], a["checksum"]) for a in res.attributes["Add"]]
    assert adds == [(True, False, False), (True, False, True), (False, True, False), (False, False, False)]


def test_secret_values_are_not_stored(tmp_path: Path) -> None:
    res, _ = load_text(tmp_path, "FROM debian:12\nENV DB_PASSWORD=hunter2 MODE=prod\nARG API_TOKEN=abc\n")
    assert res is not None
    assert "hunter2" not in json.dumps(res.to_json()) and "abc" not in json.dumps(res.to_json())
    assert res.attributes["Env"] == ["DB_PASSWORD", "MODE"]
    assert res.attributes["Args"] == ["API_TOKEN"]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("continuation.Dockerfile", "line 2: line continuation never ends (reaches the end of the file)"),
        ("heredoc.Dockerfile", "line 2: heredoc <<EOF never ends (no closing EOF line)"),
    ],
)
def test_unterminated_input_is_one_error(name: str, error: str) -> None:
    result = DOCKER.load(FIXTURES / name, root=FIXTURES)
    assert [str(e) for e in result.errors] == [f"{name}: {error}"]
    assert result.resources == []


def test_bad_instructions_cost_only_themselves(tmp_path: Path) -> None:
    res, errors = load_text(tmp_path, "RUN echo\nFROM debian:12\nFOO bar\nUSER app\n")
    assert errors == ["Dockerfile:3: unknown instruction 'FOO'", "Dockerfile:1: RUN before the first FROM"]
    assert res is not None and res.attributes["User"] == "app"
    res, errors = load_text(tmp_path, "# just a comment\n", name="empty.Dockerfile")
    assert res is None and errors == ["empty.Dockerfile: no FROM instruction; not a Dockerfile"]


def test_huge_dockerfile_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM debian:12\n" + "RUN true\n" * 1_200_000)
    result = DOCKER.load(tmp_path / "Dockerfile", root=tmp_path)
    assert "over the 10485760-byte limit" in str(result.errors[0])


def test_claimed_names(tmp_path: Path) -> None:
    for name in (
        "Dockerfile",
        "api.Dockerfile",
        "Dockerfile.prod",
        "Containerfile",
        "x.dockerignore",
        "notes.md",
    ):
        (tmp_path / name).write_text("FROM debian:12\n")
    claimed = sorted(p.name for p in DOCKER.inputs(tmp_path))
    assert claimed == ["Containerfile", "Dockerfile", "Dockerfile.prod", "api.Dockerfile"]
    assert len(scan(tmp_path, only=["dockerfile"]).resources) == 4


def test_image_refs() -> None:
    assert parse_image_ref("nginx") == {"image": "nginx", "tag": "", "digest": ""}
    assert parse_image_ref("reg:5000/a/b:1.2@sha256:ff") == {
        "image": "reg:5000/a/b",
        "tag": "1.2",
        "digest": "sha256:ff",
    }
    assert runs_as_root("0:0") is True and runs_as_root("root:app") is True
    assert runs_as_root("app:root") is False and runs_as_root("1000") is False


def test_image_config_from_raw_config_json() -> None:
    doc = json.loads((FIXTURES / "bad.image-config.json").read_text())
    res = image_config_resource(doc, name="example/bad:1")
    assert (res.kind, res.id, res.source) == ("docker.image_config", "example/bad:1", "image")
    attrs = res.attributes
    assert attrs["User"] == "" and attrs["RunsAsRoot"] is True
    assert "Healthcheck" not in attrs
    assert attrs["Env"] == ["PATH", "DB_PASSWORD", "APP_ENV"]
    assert attrs["Args"] == ["RELEASE", "GITHUB_TOKEN"]
    assert attrs["Expose"] == ["22/tcp"]
    assert [r["command"] for r in attrs["Run"]] == [
        "apt-get update",
        "apt-get install -y curl",
        "apk add curl",
    ]
    assert [a["remote"] for a in attrs["Add"]] == [False, True, False]
    # History values (the build arg, the ENV password) never reach the resource.
    assert "hunter2" not in json.dumps(res.to_json()) and "ghp_x" not in json.dumps(res.to_json())


def test_image_config_from_artifact_info() -> None:
    artifact = ArtifactInfo(
        name="registry.example/app:1",
        type="container_image",
        image_id="sha256:abc",
        config={
            "User": "1000:1000",
            "Env": ["PATH=/bin", "API_KEY=x"],
            "Healthcheck": {"Test": ["NONE"]},
            "ExposedPorts": {"443/tcp": {}},
        },
        layers=[
            LayerInfo(0, "sha256:l0", created_by="/bin/sh -c #(nop) ADD file:abc in / "),
            LayerInfo(
                1, "sha256:l1", created_by="|1 TOKEN=x /bin/sh -c apt-get update && apt-get install -y a"
            ),
        ],
    )
    res = image_config_resource(artifact)
    assert res.id == "registry.example/app:1"
    assert res.attributes["User"] == "1000:1000" and res.attributes["RunsAsRoot"] is False
    assert res.attributes["Healthcheck"] == "NONE"
    assert res.attributes["Env"] == ["PATH", "API_KEY"]
    assert res.attributes["Args"] == ["TOKEN"]
    assert res.attributes["Run"][0]["command"] == "apt-get update && apt-get install -y a"
