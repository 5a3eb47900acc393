"""Packages in use: the sensor's per-image path record and the read-time mapping to packages.

Unit tests cover the record writer's bounds and merge, the maps parser, resolution inside a
container root, and the path -> package mapping (merged /usr, symlink chains, unknown packages,
ranking). The end-to-end test runs `yamori sensor`, a python container that imports ssl, and
`yamori image --in-use` on the same image in the private podman storage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_sensor_e2e import STABLE, Sensor

from support.podman import Podman
from yamori.model import (
    ArtifactInfo,
    Finding,
    FindingKind,
    Package,
    PackageType,
    ScanResult,
    Severity,
    Status,
)
from yamori.model.vulnerability import FixState, VulnerabilityDetails
from yamori.sensor.interface import ContainerInfo, ProcessInfo, RawRecord, RecordKind
from yamori.sensor.inuse import InUseRecorder, parse_maps, resolve_in_root
from yamori.vulndb.inuse import apply_in_use, canonical_path, find_record, packages_in_use

DIGEST = "sha256:" + "a" * 64
IMAGE_ID = "b" * 64


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _info(cid: str) -> ContainerInfo:
    return ContainerInfo(id=cid, image="docker.io/acme/app:1", image_id=IMAGE_ID, image_digest=DIGEST)


def _proc(pid: int = 4242, cid: str = "c" * 64) -> ProcessInfo:
    return ProcessInfo(pid=pid, ppid=1, cwd="/srv", container_id=cid)


def _open(name: str, flags: int = 0o2000000, res: int = 3, pid: int = 4242) -> RawRecord:
    return RawRecord(
        RecordKind.SYSCALL, 1, pid, pid, "openat", res=res, args={"dirfd": -100, "name": name, "flags": flags}
    )


def _recorder(tmp_path: Path, **kw: Any) -> tuple[InUseRecorder, FakeClock]:
    clock = FakeClock()
    rec = InUseRecorder(_info, tmp_path / "inuse", proc=tmp_path / "noproc", clock=clock, **kw)
    return rec, clock


def test_recorder_keeps_system_reads_and_execs(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    proc = _proc()
    rec.on_open(_open("/usr/lib/x86_64-linux-gnu/libssl.so.3"), proc)
    rec.on_open(_open("/lib/x86_64-linux-gnu/libc.so.6"), proc)
    rec.on_open(_open("/etc/passwd"), proc)  # not a system prefix
    rec.on_open(_open("/usr/lib/x.log", flags=0o1 | 0o100), proc)  # written: not "use"
    rec.on_open(_open("/usr/lib/missing.so", res=-2), proc)  # failed
    rec.on_open(_open("../usr/bin/env"), proc)  # relative to the cwd (/srv)
    rec.on_open(_open("/usr/lib/h.so"), _proc(cid="host"))  # host processes are no image's
    rec.on_open(_open("/usr/lib/python3", flags=0o200000), proc)  # a directory listing
    runc = _proc()
    runc.comm = "runc:[2:INIT]"
    rec.on_open(_open("/lib/libseccomp.so.2"), runc)  # the runtime's (host) libraries
    exe = RawRecord(RecordKind.EXEC, 2, 4242, 4242, "execve", exepath="/app/run.sh")
    rec.on_exec(exe, proc)  # execs count wherever they are
    clock.now += 11
    rec.tick()
    doc = json.loads((tmp_path / "inuse" / f"{DIGEST}.json").read_text())
    assert doc["image"] == "docker.io/acme/app:1"
    assert doc["digest"] == DIGEST and doc["image_id"] == f"sha256:{IMAGE_ID}"
    assert doc["paths"] == [
        "/app/run.sh",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/bin/env",
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    ]
    assert doc["updated"].endswith("Z") and doc["truncated"] is False
    assert rec.stats.maps_gone == 1  # the exec'd process was gone: counted, not an error
    rec.close()
    assert not list((tmp_path / "inuse").glob(".inuse-*"))  # no temp file left behind


def test_recorder_bounds_and_merges_across_runs(tmp_path: Path) -> None:
    rec, _ = _recorder(tmp_path, max_paths=10)
    proc = _proc()
    for i in range(25):
        rec.on_open(_open(f"/usr/lib/lib{i:02d}.so"), proc)
    rec.close()
    doc = json.loads((tmp_path / "inuse" / f"{DIGEST}.json").read_text())
    assert len(doc["paths"]) == 10 and doc["truncated"] is True
    assert rec.stats.dropped == 15

    # a second run starts from the file: the old paths stay, the bound still holds
    rec2, _ = _recorder(tmp_path, max_paths=12)
    rec2.on_open(_open("/usr/bin/new"), proc)
    rec2.close()
    doc = json.loads((tmp_path / "inuse" / f"{DIGEST}.json").read_text())
    assert "/usr/bin/new" in doc["paths"] and len(doc["paths"]) == 11


def test_recorder_total_bound_evicts_to_disk(tmp_path: Path) -> None:
    images = {"1" * 64: "sha256:" + "1" * 64, "2" * 64: "sha256:" + "2" * 64}

    def lookup(cid: str) -> ContainerInfo:
        return ContainerInfo(id=cid, image=f"img{cid[0]}", image_id=cid, image_digest=images[cid])

    clock = FakeClock()
    rec = InUseRecorder(lookup, tmp_path, max_total=8, proc=tmp_path / "noproc", clock=clock)
    for cid in images:
        for i in range(6):
            rec.on_open(_open(f"/usr/lib/{cid[0]}-{i}.so"), _proc(cid=cid))
        rec.flush()  # attaches the container to its image
    assert rec.images() == ["sha256:" + "2" * 64]  # the first image was written and forgotten
    rec.close()
    for cid, digest in images.items():
        doc = json.loads((tmp_path / f"{digest}.json").read_text())
        assert len(doc["paths"]) == 6, cid


def test_unknown_container_paths_are_given_up(tmp_path: Path) -> None:
    rec = InUseRecorder(lambda cid: ContainerInfo(id=cid), tmp_path, proc=tmp_path / "noproc")
    rec.on_open(_open("/usr/lib/a.so"), _proc())
    for _ in range(3):
        rec.flush()
    assert rec.stats.unresolved == 1 and not list(tmp_path.iterdir())


def test_parse_maps() -> None:
    text = (
        "55d0c6a00000-55d0c6a28000 r--p 00000000 00:2c 1234  /usr/bin/python3.11\n"
        "7f00-7f01 r-xp 00000000 00:2c 99  /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
        "7f02-7f03 rw-p 00000000 00:00 0 \n"
        "7ffd-7ffe rw-p 00000000 00:00 0                          [stack]\n"
        "7f04-7f05 r--p 00000000 00:2c 7  /tmp/gone.so (deleted)\n"
        "7f06-7f07 r--p 00001000 00:2c 99  /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
    )
    assert parse_maps(text) == ["/usr/bin/python3.11", "/usr/lib/x86_64-linux-gnu/libssl.so.3"]


def test_resolve_in_root_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "python3.11").write_text("")
    (root / "bin").symlink_to("usr/bin")
    (root / "usr" / "bin" / "python3").symlink_to("python3.11")
    (root / "usr" / "bin" / "py").symlink_to("/bin/python3")  # absolute: the container's root
    assert resolve_in_root(root, "/bin/python3") == "/usr/bin/python3.11"
    assert resolve_in_root(root, "/usr/bin/py") == "/usr/bin/python3.11"
    assert resolve_in_root(root, "/usr/bin/none") == "/usr/bin/none"
    (root / "loop").symlink_to("loop")
    assert resolve_in_root(root, "/loop") is None


def _pkg(name: str, *files: str) -> Package:
    return Package(
        name=name, version="1", type=PackageType.DEB, purl=f"pkg:deb/debian/{name}@1", files=list(files)
    )


def test_mapping_merged_usr_and_symlinks() -> None:
    libc = _pkg("libc6", "/lib/x86_64-linux-gnu/libc.so.6", "/usr/share/doc/libc6/copyright")
    coreutils = _pkg("coreutils", "/bin/ls", "/usr/bin/env")
    py = _pkg("python3-minimal", "/usr/bin/python3")  # a link only
    py311 = _pkg("python3.11-minimal", "/usr/bin/python3.11")
    unused = _pkg("libunused", "/usr/lib/libunused.so.1")
    nofiles = _pkg("meta")
    stdlib = _pkg("libpython3.11-stdlib", "/usr/lib/python3.11/ssl.py")
    recorded = [
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/bin/ls",
        "/usr/bin/python3.11",
        "/usr/lib/python3.11/__pycache__/ssl.cpython-311.pyc",  # the bytecode Python read
    ]
    links = {"/usr/bin/python3": "python3.11"}
    got = packages_in_use([libc, coreutils, py, py311, unused, nofiles, stdlib], recorded, links)
    assert got[id(stdlib)] is True
    assert got[id(libc)] is True  # /lib listed, /usr/lib loaded
    assert got[id(coreutils)] is True  # /bin/ls listed, /usr/bin/ls executed
    assert got[id(py)] is True and got[id(py311)] is True  # the link resolves to a used file
    assert got[id(unused)] is False
    assert got[id(nofiles)] is None  # cannot be judged
    assert canonical_path("/sbin//ldconfig") == "/usr/sbin/ldconfig"
    assert canonical_path("/opt/x/../y") == "/opt/y"
    # without the link table, only literal (canonical) files count
    assert packages_in_use([py], recorded)[id(py)] is False


def _finding(pkg: Package, vid: str, score: float) -> Finding:
    details = VulnerabilityDetails(
        id=vid,
        aliases=[],
        package_name=pkg.name,
        package_type="deb",
        installed_version="1",
        purl=pkg.purl,
        cvss_v3_score=score,
        fix_state=FixState.FIXED,
        risk=score * 2,
    )
    return Finding(
        FindingKind.VULNERABILITY, vid, vid, Severity.HIGH, Status.OPEN, "img", vulnerability=details
    )


def test_apply_in_use_ranks_and_marks(tmp_path: Path) -> None:
    used, unused = _pkg("libssl3", "/usr/lib/x86_64-linux-gnu/libssl.so.3"), _pkg("libx", "/usr/lib/libx.so")
    result = ScanResult(
        artifact=ArtifactInfo(
            name="img", type="container_image", digest=DIGEST, image_id="sha256:" + IMAGE_ID
        ),
        packages=[used, unused],
        findings=[_finding(unused, "CVE-2", 9.8), _finding(used, "CVE-1", 5.0)],
    )
    before = [(f.rule_id, f.vulnerability.risk if f.vulnerability else 0) for f in result.findings]
    assert apply_in_use(result, tmp_path) is not None  # no record: warning, nothing changed
    assert [(f.rule_id, f.vulnerability.risk if f.vulnerability else 0) for f in result.findings] == before
    assert "in_use" not in used.metadata

    # the sensor named the record after the image id only: found by the id
    doc = {
        "image": "img:1",
        "digest": None,
        "image_id": IMAGE_ID,
        "paths": ["/usr/lib/x86_64-linux-gnu/libssl.so.3"],
    }
    (tmp_path / f"sha256:{IMAGE_ID}.json").write_text(json.dumps(doc))
    assert apply_in_use(result, tmp_path) is None
    assert [f.rule_id for f in result.findings] == ["CVE-1", "CVE-2"]
    assert [f.evidence["in_use"] for f in result.findings] == [True, False]
    assert used.metadata["in_use"] is True and unused.metadata["in_use"] is False
    risks = {f.rule_id: f.vulnerability.risk for f in result.findings if f.vulnerability}
    assert risks == {"CVE-1": 12.0, "CVE-2": 9.8}  # 100*.5*.2*1*1.2, 100*.98*.2*1*.5


def test_find_record_by_contents(tmp_path: Path) -> None:
    doc: dict[str, Any] = {"image": "i", "digest": DIGEST, "image_id": None, "paths": []}
    (tmp_path / "renamed.json").write_text(json.dumps(doc))
    (tmp_path / "junk.json").write_text("{")
    record = find_record([DIGEST], tmp_path)
    assert record is not None and record.image == "i"
    assert find_record(["sha256:" + "f" * 64], tmp_path) is None


# -- end to end -------------------------------------------------------------------------------

YAMORI = Path(sys.executable).parent / "yamori"


def test_e2e_python_ssl_container_marks_its_packages(
    capture_ready: None, podman: Podman, tmp_path: Path
) -> None:
    if not STABLE.exists():
        pytest.skip(f"{STABLE} is not present")
    env = dict(podman.env, YAMORI_DATA_DIR=str(tmp_path / "data"), YAMORI_CACHE_DIR=str(tmp_path / "cache"))
    sensor = Sensor(env)
    try:
        sensor.wait_ready()
        podman.run(
            "run", "--rm", "--network", "none", "--name", "yamori-inuse", podman.image,
            "python3", "-c", "import ssl, time; time.sleep(0.5)",
        )  # fmt: skip
    finally:
        status = sensor.stop()
        print("\n".join(status))
    assert any("in use: paths=" in line for line in status)
    records = list((tmp_path / "data" / "inuse").glob("*.json"))
    assert len(records) == 1, status
    record = json.loads(records[0].read_text())
    assert record["image"] == podman.image
    inspect = podman.run("image", "inspect", "--format", "{{.Id}} {{.Digest}}", podman.image).stdout.split()
    assert record["image_id"] == f"sha256:{inspect[0]}" and record["digest"] == inspect[1]

    scan = subprocess.run(
        [
            str(YAMORI), "image", f"containers-storage:{podman.image}", "--storage-root",
            str(podman.root / "storage"), "--in-use", "-f", "json", "--no-vuln", "-q",
        ],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    assert "no in-use record" not in scan.stderr
    packages = json.loads(scan.stdout)["packages"]
    state = {p["name"]: p["metadata"].get("in_use") for p in packages if p["type"] == "deb"}
    for name in ("libc6", "libssl3", "python3.11-minimal", "libpython3.11-minimal", "python3-minimal"):
        assert state.get(name) is True, (name, state.get(name))
    used = [n for n, s in state.items() if s]
    not_used = [n for n, s in state.items() if s is False]
    print(f"in use ({len(used)}): {sorted(used)}")
    assert "nodejs" in not_used and "apt" in not_used and "libnode108" in not_used
    assert len(not_used) > 3 * len(used), (used, len(not_used))
    assert os.environ.get("YAMORI_DATA_DIR") != env["YAMORI_DATA_DIR"]  # the host's stays untouched
