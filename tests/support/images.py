"""Real test images: a Debian bookworm root filesystem with real PyPI and npm packages, in layers.

Built once per `IMAGE_VERSION` and cached under the `test_cache` directory (`~/.cache/yamori-test`),
so only the first run pays for `mmdebstrap` and the package downloads; later runs reuse the
finished OCI layout, docker archive and unpacked root filesystem in seconds.

The image (`debian-app`) has six layers, each with something a scan must attribute to it:

====  ==========================================================================================
  0   `mmdebstrap --variant=minbase bookworm` (dpkg, base-files, libc6, tzdata, apt…)
  1   `apt-get install python3 nodejs` (python3.11, nodejs, libnode108… and a rewritten status)
  2   PyPI: requests 2.31.0, urllib3 1.26.18, six, idna, certifi, charset-normalizer
  3   npm: express 4.18.2 and lodash 4.17.20 under /app
  4   urllib3 upgraded to 2.0.7 (the 1.26.18 dist-info is whited out) and `dpkg --purge tzdata`
      (its files whited out, the status file rewritten)
  5   lodash replaced wholesale by 4.17.21 through an opaque directory (`.wh..wh..opq`)
====  ==========================================================================================

Every expectation (which package in which layer, what must be gone) is recorded in the
`BuiltImage` the fixtures return, so tests assert against it rather than against literals that
would drift when the Debian mirror moves on.

Fixtures, all session-scoped:

- `debian_app_image`: the OCI layout (gzip layers) + the final unpacked root filesystem.
- `debian_app_docker_archive`: the same image as a `docker save` style archive.
- `debian_app_oci_zstd`: the same image as an OCI layout with zstd-compressed layers.
- `debian_app_registry_ref`: the image pushed to the session's local `docker-registry`.
- `debian_app_containers_storage`: the image copied into a private containers-storage root
  (overlay when the kernel allows it here, vfs otherwise).

A fixture skips (with the reason) when a tool it needs is missing or it is not run as root.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from support.registry import RegistryServer

# Bump whenever the recipe below changes: the cache key of every built artefact.
IMAGE_VERSION = "debian-app-v1"
IMAGE_NAME = "yamori-test/debian-app"
IMAGE_TAG = "1"
SUITE = "bookworm"

PYPI_LAYER2 = {
    "requests": "2.31.0",
    "urllib3": "1.26.18",
    "six": "1.16.0",
    "idna": "3.4",
    "certifi": "2023.7.22",
    "charset-normalizer": "3.3.2",
}
URLLIB3_NEW = "2.0.7"
NPM_LAYER3 = {"express": "4.18.2", "lodash": "4.17.20"}
LODASH_NEW = "4.17.21"
DEB_LAYER1 = ("python3", "nodejs")
DEB_PURGED = "tzdata"
SITE_PACKAGES = "usr/local/lib/python3.11/dist-packages"

# tar members a layer must not carry: mounts mmdebstrap made for hooks, and apt's caches.
_SNAPSHOT_EXCLUDES = (
    "./proc/*",
    "./sys/*",
    "./dev/*",
    "./var/lib/apt/lists/*",
    "./var/cache/apt/*",
    "./etc/resolv.conf",
    "./etc/hostname",
    "./var/log/apt/*",
    "./var/log/dpkg.log",
)


@dataclass(frozen=True)
class ExpectedPackage:
    """A package the scan must report: `type` is the PURL type (deb, pypi, npm)."""

    type: str
    name: str
    version: str
    layer: int
    source_name: str | None = None  # dpkg only: the Source: field when it differs


@dataclass(frozen=True)
class AbsentPackage:
    """A package that some layer carried and a later layer removed; `version` "" means any."""

    type: str
    name: str
    version: str = ""


@dataclass(frozen=True)
class BuiltImage:
    """A built test image and what a correct scan of it reports."""

    layout: Path  # OCI image layout directory
    tag: str
    rootfs: Path  # the final filesystem (all layers applied), unpacked
    layer_count: int
    present: tuple[ExpectedPackage, ...]
    absent: tuple[AbsentPackage, ...]
    deb_count: int  # dpkg packages in the final status file
    opaque_dir: str  # a directory that the last layer replaced wholesale
    whiteouts: tuple[str, ...] = field(default=())  # some paths layer 4 deletes

    @property
    def oci_reference(self) -> str:
        return f"oci:{self.layout}:{self.tag}"

    def expected(self, type_: str, name: str) -> ExpectedPackage:
        for pkg in self.present:
            if pkg.type == type_ and pkg.name == name:
                return pkg
        raise KeyError((type_, name))


# ------------------------------------------------------------------------------------------------
# helpers


def _require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (scripts/install-system-deps.sh test installs them)")


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("building the test image needs root (mmdebstrap, chroot)")


def _run(cmd: Sequence[str | Path], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a build step; on failure raise with its output so the fixture error says why."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(str(c) for c in cmd)} exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise builds of one artefact across concurrent pytest processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _dpkg_status(rootfs: Path) -> dict[str, dict[str, str]]:
    """Installed packages of a root filesystem: name → {Version, Source…} from the status file."""
    text = (rootfs / "var/lib/dpkg/status").read_text(encoding="utf-8")
    packages: dict[str, dict[str, str]] = {}
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields and "install ok installed" in fields.get("Status", ""):
            packages[fields["Package"]] = fields
    return packages


def _source_name(fields: dict[str, str]) -> str | None:
    source = fields.get("Source")
    if not source:
        return None
    return source.split(" ", 1)[0]


# ------------------------------------------------------------------------------------------------
# the build


def _debootstrap(work: Path) -> tuple[Path, Path]:
    """One mmdebstrap run, two snapshots: the plain minbase tree (layer 0) and the tree after
    `apt-get install python3 nodejs` (layer 1). Unchanged files keep their mtimes between the
    two, so umoci's diff of the two trees is exactly what apt changed."""
    layer0 = work / "layer0.tar"
    final = work / "final.tar"
    excludes = " ".join(f"--exclude='{e}'" for e in _SNAPSHOT_EXCLUDES)
    _run(
        [
            "mmdebstrap",
            "--variant=minbase",
            "--quiet",
            f'--customize-hook=tar -C "$1" --numeric-owner {excludes} -cf {layer0} .',
            '--customize-hook=chroot "$1" apt-get install -y -q --no-install-recommends '
            + " ".join(DEB_LAYER1),
            SUITE,
            str(final),
        ]
    )
    return layer0, final


def _extract(archive: Path, rootfs: Path) -> None:
    excludes = [f"--exclude={e}" for e in _SNAPSHOT_EXCLUDES]
    _run(["tar", "-C", rootfs, "--numeric-owner", "-xpf", archive, *excludes])


def _clear(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _repack(layout: Path, bundle: Path, created_by: str) -> None:
    _run(
        [
            "umoci",
            "repack",
            "--refresh-bundle",
            "--history.created_by",
            created_by,
            "--image",
            f"{layout}:{IMAGE_TAG}",
            bundle,
        ]
    )


def _pip_install(target: Path, requirements: dict[str, str]) -> None:
    """Install wheels with the host pip (Python 3.11, like bookworm's) into the image's
    site-packages. `--no-deps` keeps the versions exactly the ones pinned here."""
    _run(
        [
            "python3",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-compile",
            "--only-binary=:all:",
            "--target",
            target,
            *[f"{name}=={version}" for name, version in requirements.items()],
        ],
        env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"},
    )


def _npm_install(prefix: Path, packages: dict[str, str]) -> None:
    prefix.mkdir(parents=True, exist_ok=True)
    _run(
        [
            "npm",
            "install",
            "--prefix",
            prefix,
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--loglevel=error",
            *[f"{name}@{version}" for name, version in packages.items()],
        ]
    )


def _opaque_layer_tar(work: Path, out: Path) -> str:
    """Layer 5, written by hand since umoci never emits opaque markers: the lodash directory
    is declared opaque and refilled with lodash 4.17.21 from a separate npm install."""
    staging = work / "lodash-new"
    _npm_install(staging, {"lodash": LODASH_NEW})
    source = staging / "node_modules" / "lodash"
    directory = "app/node_modules/lodash"
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:

        def add_dir(name: str) -> None:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = int(time.time())
            tar.addfile(info)

        for parent in ("app", "app/node_modules", directory):
            add_dir(parent)
        marker = tarfile.TarInfo(f"{directory}/.wh..wh..opq")
        marker.mtime = int(time.time())
        tar.addfile(marker)
        for path in sorted(source.rglob("*")):
            name = f"{directory}/{path.relative_to(source).as_posix()}"
            info = tar.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if path.is_file() and not path.is_symlink():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    return directory


def _build_debian_app(dest: Path) -> None:
    """Build the whole image into `dest` (a fresh directory). See the module docstring."""
    work = dest / "work"
    work.mkdir(parents=True)
    layout = dest / "oci"
    bundle = work / "bundle"
    layer0, final = _debootstrap(work)

    _run(["umoci", "init", "--layout", layout])
    _run(["umoci", "new", "--image", f"{layout}:{IMAGE_TAG}"])
    _run(["umoci", "unpack", "--image", f"{layout}:{IMAGE_TAG}", bundle])
    rootfs = bundle / "rootfs"

    # Layer 0: minbase.
    _extract(layer0, rootfs)
    base_status = _dpkg_status(rootfs)
    _repack(layout, bundle, f"mmdebstrap --variant=minbase {SUITE}")

    # Layer 1: the tree after apt-get install python3 nodejs.
    _clear(rootfs)
    _extract(final, rootfs)
    layer1_status = _dpkg_status(rootfs)
    _repack(layout, bundle, "apt-get install -y --no-install-recommends " + " ".join(DEB_LAYER1))
    layer0.unlink()
    final.unlink()

    # Layer 2: PyPI packages.
    site = rootfs / SITE_PACKAGES
    _pip_install(site, PYPI_LAYER2)
    _repack(layout, bundle, "pip install " + " ".join(f"{n}=={v}" for n, v in PYPI_LAYER2.items()))

    # Layer 3: npm packages.
    _npm_install(rootfs / "app", NPM_LAYER3)
    _repack(layout, bundle, "npm install " + " ".join(f"{n}@{v}" for n, v in NPM_LAYER3.items()))

    # Layer 4: upgrade urllib3 (old files deleted → whiteouts) and purge a Debian package.
    old = PYPI_LAYER2["urllib3"]
    shutil.rmtree(site / "urllib3")
    shutil.rmtree(site / f"urllib3-{old}.dist-info")
    _pip_install(site, {"urllib3": URLLIB3_NEW})
    _run(["chroot", rootfs, "dpkg", "--purge", DEB_PURGED])
    _repack(layout, bundle, f"pip install urllib3=={URLLIB3_NEW} && dpkg --purge {DEB_PURGED}")

    # Layer 5: an opaque directory.
    opaque_tar = work / "layer5.tar"
    opaque_dir = _opaque_layer_tar(work, opaque_tar)
    _run(
        [
            "umoci",
            "raw",
            "add-layer",
            "--history.created_by",
            f"replace /{opaque_dir} with lodash {LODASH_NEW}",
            "--image",
            f"{layout}:{IMAGE_TAG}",
            opaque_tar,
        ]
    )
    _run(
        [
            "umoci",
            "config",
            "--image",
            f"{layout}:{IMAGE_TAG}",
            "--config.workingdir",
            "/app",
            "--config.cmd",
            "node",
            "--config.env",
            "PYTHONDONTWRITEBYTECODE=1",
            "--config.label",
            "org.opencontainers.image.title=yamori debian-app test image",
            "--author",
            "yamori tests",
        ]
    )
    _run(["umoci", "gc", "--layout", layout])

    # The final filesystem, unpacked from the image itself (umoci applies the whiteouts).
    final_bundle = dest / "bundle"
    _run(["umoci", "unpack", "--image", f"{layout}:{IMAGE_TAG}", final_bundle])
    final_status = _dpkg_status(final_bundle / "rootfs")
    shutil.rmtree(work)

    present: list[ExpectedPackage] = []
    for name in ("base-files", "dpkg", "libc6", "coreutils", "apt"):
        fields = base_status[name]
        present.append(ExpectedPackage("deb", name, fields["Version"], 0, _source_name(fields)))
    for name in ("python3", "python3.11", "nodejs", "libnode108"):
        if name in layer1_status and name not in base_status:
            fields = layer1_status[name]
            present.append(ExpectedPackage("deb", name, fields["Version"], 1, _source_name(fields)))
    for name, version in PYPI_LAYER2.items():
        if name != "urllib3":
            present.append(ExpectedPackage("pypi", name, version, 2))
    present.append(ExpectedPackage("npm", "express", NPM_LAYER3["express"], 3))
    present.append(ExpectedPackage("pypi", "urllib3", URLLIB3_NEW, 4))
    present.append(ExpectedPackage("npm", "lodash", LODASH_NEW, 5))
    # express's own dependencies are real npm packages of layer 3 too.
    for dep in ("body-parser", "accepts", "cookie"):
        manifest = final_bundle / "rootfs/app/node_modules" / dep / "package.json"
        version = json.loads(manifest.read_text())["version"]
        present.append(ExpectedPackage("npm", dep, version, 3))
    absent = (
        AbsentPackage("pypi", "urllib3", PYPI_LAYER2["urllib3"]),
        AbsentPackage("npm", "lodash", NPM_LAYER3["lodash"]),
        AbsentPackage("deb", DEB_PURGED),
    )
    meta = {
        "version": IMAGE_VERSION,
        "layer_count": 6,
        "present": [asdict(p) for p in present],
        "absent": [asdict(a) for a in absent],
        "deb_count": len(final_status),
        "opaque_dir": opaque_dir,
        "whiteouts": [
            f"{SITE_PACKAGES}/urllib3-{old}.dist-info",
            "usr/share/zoneinfo",
        ],
    }
    (dest / "meta.json").write_text(json.dumps(meta, indent=2))


def _load(dest: Path) -> BuiltImage:
    meta = json.loads((dest / "meta.json").read_text())
    return BuiltImage(
        layout=dest / "oci",
        tag=IMAGE_TAG,
        rootfs=dest / "bundle" / "rootfs",
        layer_count=int(meta["layer_count"]),
        present=tuple(ExpectedPackage(**p) for p in meta["present"]),
        absent=tuple(AbsentPackage(**a) for a in meta["absent"]),
        deb_count=int(meta["deb_count"]),
        opaque_dir=str(meta["opaque_dir"]),
        whiteouts=tuple(meta["whiteouts"]),
    )


def build_debian_app(cache: Path) -> BuiltImage:
    """The debian-app image, built into `cache/images/IMAGE_VERSION` unless already there.

    Usable outside pytest too (the benchmark calls it). A half-finished build never becomes
    visible: it is built in a sibling directory and renamed into place.
    """
    root = cache / "images"
    dest = root / IMAGE_VERSION
    with _locked(root / f"{IMAGE_VERSION}.lock"):
        if not (dest / "meta.json").exists():
            staging = Path(tempfile.mkdtemp(prefix=f"{IMAGE_VERSION}.", dir=root))
            try:
                _build_debian_app(staging)
                if dest.exists():
                    shutil.rmtree(dest)
                staging.rename(dest)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    return _load(dest)


def export_docker_archive(image: BuiltImage, out: Path) -> Path:
    """`docker save`-style archive of the image (skopeo converts; layers stay as they are)."""
    if not out.exists():
        tmp = out.with_name(out.name + ".tmp")
        tmp.unlink(missing_ok=True)
        _run(
            [
                "skopeo",
                "copy",
                "--quiet",
                image.oci_reference,
                f"docker-archive:{tmp}:{IMAGE_NAME}:{IMAGE_TAG}",
            ]
        )
        tmp.rename(out)
    return out


def export_oci_zstd(image: BuiltImage, out: Path) -> Path:
    """The same image as an OCI layout whose layers are recompressed with zstd."""
    if not (out / "index.json").exists():
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        _run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--dest-compress-format",
                "zstd",
                image.oci_reference,
                f"oci:{tmp}:{IMAGE_TAG}",
            ]
        )
        tmp.rename(out)
    return out


# ------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def debian_app_image(test_cache: Path) -> BuiltImage:
    """The layered Debian + Python + Node test image as an OCI layout (gzip layers)."""
    if not (test_cache / "images" / IMAGE_VERSION / "meta.json").exists():
        _require_root()
        _require_tools("mmdebstrap", "umoci", "skopeo", "npm", "tar", "chroot")
    return build_debian_app(test_cache)


@pytest.fixture(scope="session")
def debian_app_docker_archive(debian_app_image: BuiltImage, test_cache: Path) -> Path:
    """The image as a docker-archive tarball (what `docker save` writes)."""
    out = test_cache / "images" / f"{IMAGE_VERSION}.docker.tar"
    _require_tools("skopeo")
    with _locked(test_cache / "images" / f"{IMAGE_VERSION}.docker.lock"):
        return export_docker_archive(debian_app_image, out)


@pytest.fixture(scope="session")
def debian_app_oci_zstd(debian_app_image: BuiltImage, test_cache: Path) -> str:
    """An `oci:DIR:tag` reference to the image with zstd-compressed layers."""
    out = test_cache / "images" / f"{IMAGE_VERSION}.oci-zstd"
    _require_tools("skopeo")
    with _locked(test_cache / "images" / f"{IMAGE_VERSION}.zstd.lock"):
        export_oci_zstd(debian_app_image, out)
    return f"oci:{out}:{IMAGE_TAG}"


@pytest.fixture(scope="session")
def debian_app_registry_ref(debian_app_image: BuiltImage, registry: RegistryServer) -> str:
    """The image pushed to the session's local registry (`registry` from support/registry.py);
    returns `127.0.0.1:PORT/yamori-test/debian-app:1`."""
    repo_tag = f"{IMAGE_NAME}:{IMAGE_TAG}"
    registry.push(debian_app_image.oci_reference, repo_tag)
    return f"{registry.host}/{repo_tag}"


@dataclass(frozen=True)
class ContainersStorage:
    """A private containers-storage holding the test image."""

    root: Path  # graph root (pass as --storage-root)
    runroot: Path
    driver: str  # "overlay" or "vfs" (vfs when overlay cannot be mounted here)
    name: str  # image name as stored, e.g. yamori-test/debian-app:1

    @property
    def reference(self) -> str:
        return f"containers-storage:{self.name}"


def _unmount_below(directory: Path) -> None:
    """Unmount what containers-storage mounted under `directory` (the overlay driver bind-mounts
    its own home), deepest first, so the temp dir can be deleted."""
    prefix = str(directory.resolve()) + "/"
    mounts = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


@pytest.fixture(scope="session")
def debian_app_containers_storage(
    debian_app_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ContainersStorage]:
    """The image copied by skopeo into a private containers-storage root (overlay, else vfs).

    The store lives in a session temp dir: a store left behind by an earlier run may hold
    mounts, and copying in takes only seconds. Mounts are undone at the end of the session.
    """
    _require_root()
    _require_tools("skopeo")
    base = tmp_path_factory.mktemp("containers-storage")
    name = f"{IMAGE_NAME}:{IMAGE_TAG}"
    errors: list[str] = []
    store: ContainersStorage | None = None
    try:
        for driver in ("overlay", "vfs"):
            root, runroot = base / driver / "root", base / driver / "runroot"
            root.mkdir(parents=True)
            runroot.mkdir(parents=True)
            try:
                _run(
                    [
                        "skopeo",
                        "copy",
                        "--quiet",
                        debian_app_image.oci_reference,
                        f"containers-storage:[{driver}@{root}+{runroot}]{name}",
                    ]
                )
            except RuntimeError as exc:
                errors.append(f"{driver}: {str(exc)[-500:]}")
                _unmount_below(base / driver)
                continue
            store = ContainersStorage(root=root, runroot=runroot, driver=driver, name=name)
            break
        if store is None:
            pytest.fail("skopeo could not copy into containers-storage:\n" + "\n".join(errors))
        yield store
    finally:
        _unmount_below(base)


# ------------------------------------------------------------------------------------------------
# debian-vuln: debian-app plus one layer of software with known, real advisories
#
# Built on top of the finished debian-app layout (copied, unpacked, one layer added, repacked),
# so it costs seconds once debian-app exists. Layer 6 carries:
#
# - requests 2.19.0 and urllib3 1.24.1 from PyPI (replacing layer 2/4's releases, which are
#   deleted first: `pip --target` would otherwise refuse to overwrite them), both with PYSEC
#   advisories in the real OSV PyPI dump (PYSEC-2018-28, PYSEC-2019-132);
# - Debian's own `docker-registry` package (a Go 1.19.8 binary at /usr/bin/docker-registry),
#   downloaded with `apt-get download`, extracted with `dpkg-deb -x` and registered in the dpkg
#   status file with its file list, so the binary is owned by an OS package exactly as on a real
#   Debian system. Go 1.19.8's standard library has many GO- advisories in the OSV Go dump.

VULN_IMAGE_VERSION = "debian-vuln-v1"
VULN_IMAGE_NAME = "yamori-test/debian-vuln"
PYPI_VULN = {"requests": "2.19.0", "urllib3": "1.24.1"}
# Advisories of the OSV PyPI dump that affect exactly these releases (one per package suffices).
PYPI_VULN_ADVISORIES = {"requests": ("PYSEC-2018-28",), "urllib3": ("PYSEC-2019-132",)}
GO_DEB_PACKAGE = "docker-registry"
GO_BINARY = "usr/bin/docker-registry"


@dataclass(frozen=True)
class VulnImage:
    """debian-app + a layer of vulnerable software, and what a vulnerability scan must find."""

    layout: Path
    tag: str
    layer_count: int
    vuln_layer: int  # index of the added layer
    pypi: dict[str, str]  # name → version installed in `vuln_layer`
    pypi_advisories: dict[str, tuple[str, ...]]  # name → advisory ids that must be reported
    go_binary: str  # path of the Go binary in the image, without a leading slash
    go_deb_package: str  # the dpkg package owning it
    go_deb_version: str
    go_toolchain: str  # Go version the binary was built with, e.g. "1.19.8"

    @property
    def oci_reference(self) -> str:
        return f"oci:{self.layout}:{self.tag}"


def _go_toolchain(binary: Path) -> str:
    """The `go1.X.Y` build-info version string embedded in a Go binary (no `go` tool needed)."""
    data = binary.read_bytes()
    marker = data.find(b"\xff Go buildinf:")
    # Go >= 1.18 inline format: flags byte at +15; version is a varint-prefixed string at +32.
    if marker >= 0 and data[marker + 15] & 0x2:
        pos = marker + 32
        length, shift = 0, 0
        while True:
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        version = data[pos : pos + length].decode()
        if version.startswith("go"):
            return version[2:]
    raise RuntimeError(f"no Go build info in {binary}")


def _install_deb(deb: Path, rootfs: Path, work: Path) -> str:
    """Install a .deb the way dpkg would leave it, without running maintainer scripts: files
    extracted, a status stanza and a `.list` file. Returns the package version."""
    staging = work / "deb-root"
    _run(["dpkg-deb", "-x", deb, staging])
    control = _run(["dpkg-deb", "-f", deb])
    fields = dict(line.split(":", 1) for line in control.splitlines() if line and not line[0].isspace())
    name, version = fields["Package"].strip(), fields["Version"].strip()
    paths = ["/."]
    for path in sorted(staging.rglob("*")):
        paths.append("/" + path.relative_to(staging).as_posix())
    # dirs_exist_ok follows bookworm's usr-merge symlinks (/lib → usr/lib) like dpkg does.
    shutil.copytree(staging, rootfs, symlinks=True, dirs_exist_ok=True)
    info = rootfs / "var/lib/dpkg/info"
    (info / f"{name}.list").write_text("\n".join(paths) + "\n", encoding="utf-8")
    stanza_lines = control.rstrip("\n").splitlines()
    stanza_lines.insert(1, "Status: install ok installed")
    status = rootfs / "var/lib/dpkg/status"
    text = status.read_text(encoding="utf-8").rstrip("\n")
    status.write_text(text + "\n\n" + "\n".join(stanza_lines) + "\n", encoding="utf-8")
    return version


def _build_debian_vuln(base: BuiltImage, dest: Path) -> None:
    work = dest / "work"
    work.mkdir(parents=True)
    layout = dest / "oci"
    shutil.copytree(base.layout, layout, symlinks=True)
    bundle = work / "bundle"
    _run(["umoci", "unpack", "--image", f"{layout}:{IMAGE_TAG}", bundle])
    rootfs = bundle / "rootfs"

    site = rootfs / SITE_PACKAGES
    for name in PYPI_VULN:
        shutil.rmtree(site / name, ignore_errors=True)
        for dist_info in site.glob(f"{name}-*.dist-info"):
            shutil.rmtree(dist_info)
    _pip_install(site, PYPI_VULN)

    downloads = work / "debs"
    downloads.mkdir()
    _run(["apt-get", "download", "-q", GO_DEB_PACKAGE], cwd=downloads)
    (deb,) = downloads.glob(f"{GO_DEB_PACKAGE}_*.deb")
    deb_version = _install_deb(deb, rootfs, work)
    toolchain = _go_toolchain(rootfs / GO_BINARY)

    _run(
        [
            "umoci",
            "repack",
            "--refresh-bundle",
            "--history.created_by",
            "pip install "
            + " ".join(f"{n}=={v}" for n, v in PYPI_VULN.items())
            + f" && apt-get install {GO_DEB_PACKAGE}",
            "--image",
            f"{layout}:{IMAGE_TAG}",
            bundle,
        ]
    )
    _run(["umoci", "gc", "--layout", layout])
    shutil.rmtree(work)
    meta = {
        "version": VULN_IMAGE_VERSION,
        "base": IMAGE_VERSION,
        "layer_count": base.layer_count + 1,
        "vuln_layer": base.layer_count,
        "pypi": PYPI_VULN,
        "pypi_advisories": {k: list(v) for k, v in PYPI_VULN_ADVISORIES.items()},
        "go_binary": GO_BINARY,
        "go_deb_package": GO_DEB_PACKAGE,
        "go_deb_version": deb_version,
        "go_toolchain": toolchain,
    }
    (dest / "meta.json").write_text(json.dumps(meta, indent=2))


def _load_vuln(dest: Path) -> VulnImage:
    meta = json.loads((dest / "meta.json").read_text())
    return VulnImage(
        layout=dest / "oci",
        tag=IMAGE_TAG,
        layer_count=int(meta["layer_count"]),
        vuln_layer=int(meta["vuln_layer"]),
        pypi=dict(meta["pypi"]),
        pypi_advisories={k: tuple(v) for k, v in meta["pypi_advisories"].items()},
        go_binary=str(meta["go_binary"]),
        go_deb_package=str(meta["go_deb_package"]),
        go_deb_version=str(meta["go_deb_version"]),
        go_toolchain=str(meta["go_toolchain"]),
    )


def build_debian_vuln(base: BuiltImage, cache: Path) -> VulnImage:
    """The debian-vuln image, built into `cache/images/IMAGE_VERSION+VULN_IMAGE_VERSION` unless
    already there (keyed by both versions: a rebuilt base means a rebuilt vuln image)."""
    root = cache / "images"
    key = f"{IMAGE_VERSION}+{VULN_IMAGE_VERSION}"
    dest = root / key
    with _locked(root / f"{key}.lock"):
        if not (dest / "meta.json").exists():
            staging = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=root))
            try:
                _build_debian_vuln(base, staging)
                if dest.exists():
                    shutil.rmtree(dest)
                staging.rename(dest)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    return _load_vuln(dest)


@pytest.fixture(scope="session")
def debian_vuln_image(debian_app_image: BuiltImage, test_cache: Path) -> VulnImage:
    """debian-app plus a layer with old PyPI releases and Debian's docker-registry Go binary,
    as an OCI layout; the advisories a scan must report are recorded on the returned object."""
    key = f"{IMAGE_VERSION}+{VULN_IMAGE_VERSION}"
    if not (test_cache / "images" / key / "meta.json").exists():
        _require_root()
        _require_tools("umoci", "apt-get", "dpkg-deb")
    return build_debian_vuln(debian_app_image, test_cache)


@pytest.fixture(scope="session")
def debian_vuln_registry_ref(debian_vuln_image: VulnImage, registry: RegistryServer) -> str:
    """debian-vuln pushed to the session's local registry: `127.0.0.1:PORT/yamori-test/debian-vuln:1`."""
    repo_tag = f"{VULN_IMAGE_NAME}:{IMAGE_TAG}"
    registry.push(debian_vuln_image.oci_reference, repo_tag)
    return f"{registry.host}/{repo_tag}"
