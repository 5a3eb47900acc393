"""npm packages: installed `node_modules/**/package.json`, and (for project scans) lockfiles.

Installed packages are what an image runs, so they are catalogued everywhere; only a
package.json that *is* a package directory inside node_modules counts (`node_modules/x/` or
`node_modules/@scope/x/`), not the test fixtures and examples packages ship
(`node_modules/x/test/package.json`). Global installs live under `usr/lib/node_modules` and
`usr/local/lib/node_modules`, which the same rule covers.

Lockfiles (`package-lock.json` v1 to v3, `yarn.lock` classic and berry, `pnpm-lock.yaml` v5/v6/v9)
describe what a project *would* install: they serve the "fs" scope only. Lockfiles inside
node_modules are copies npm keeps for itself and are skipped.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from yamori.catalog.interface import Cataloger, FileInput, FileResult
from yamori.catalog.registry import register
from yamori.model import Package, PackageType

LOCKFILES = ("package-lock.json", "yarn.lock", "pnpm-lock.yaml")


def is_installed_manifest(path: str) -> bool:
    """True for `…node_modules/NAME/package.json` and `…node_modules/@SCOPE/NAME/package.json`."""
    if not path.endswith("/package.json"):
        return False
    parts = path.split("/")
    if len(parts) >= 3 and parts[-3] == "node_modules" and not parts[-2].startswith("@"):
        return True
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def licenses_of(manifest: dict[str, Any]) -> list[str]:
    """`license` as a string or `{type}`, or the deprecated `licenses` array."""
    found: list[str] = []
    values: list[Any] = []
    if "license" in manifest:
        values.append(manifest["license"])
    if isinstance(manifest.get("licenses"), list):
        values.extend(manifest["licenses"])
    for value in values:
        if isinstance(value, dict):
            value = value.get("type")
        if isinstance(value, str) and value.strip() and value.strip() not in found:
            found.append(value.strip())
    return found


@register
class NpmPackageCataloger(Cataloger):
    """Packages installed in node_modules directories."""

    name = "npm-package"
    version = 1
    max_size = 4 * 1024 * 1024

    def wants(self, path: str, mode: int) -> bool:
        return path.endswith("/package.json") and "node_modules/" in path and is_installed_manifest(path)

    def analyze(self, file: FileInput) -> FileResult | None:
        try:
            manifest = json.loads(file.read())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(f"bad package.json: {exc}") from None
        if not isinstance(manifest, dict):
            return None
        name, version = manifest.get("name"), manifest.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            return None
        metadata: dict[str, Any] = {}
        if manifest.get("private") is True:
            metadata["private"] = True
        package = Package(
            name=name,
            version=version,
            type=PackageType.NPM,
            location=file.path,
            licenses=licenses_of(manifest),
            metadata=metadata,
        )
        return FileResult(packages=[package])


class _Collector:
    """Collects (name, version) once per lockfile; a package is dev only if every occurrence is."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.found: dict[tuple[str, str], Package] = {}

    def add(self, name: str, version: str, dev: bool | None, **extra: Any) -> None:
        if not name or not version:
            return
        key = (name, version)
        existing = self.found.get(key)
        if existing is not None:
            if dev is not None:
                existing.metadata["dev"] = bool(existing.metadata.get("dev", True)) and dev
            return
        metadata: dict[str, Any] = {k: v for k, v in extra.items() if v}
        if dev is not None:
            metadata["dev"] = dev
        self.found[key] = Package(
            name=name, version=version, type=PackageType.NPM, location=self.location, metadata=metadata
        )

    def packages(self) -> list[Package]:
        return list(self.found.values())


def parse_package_lock(data: bytes, location: str) -> list[Package]:
    """package-lock.json: `packages` (v2, v3) when present, else the v1 `dependencies` tree."""
    try:
        lock = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"bad package-lock.json: {exc}") from None
    if not isinstance(lock, dict):
        raise ValueError("package-lock.json is not an object")
    out = _Collector(location)
    packages = lock.get("packages")
    if isinstance(packages, dict):
        for key, entry in packages.items():
            if not key or not isinstance(entry, dict) or entry.get("link"):
                continue
            marker = key.rfind("node_modules/")
            if marker >= 0:
                name = entry.get("name") or key[marker + len("node_modules/") :]
                workspace = False
            else:
                name = entry.get("name") or posixpath.basename(key)
                workspace = True  # a workspace member's own directory
            version = entry.get("version")
            if isinstance(name, str) and isinstance(version, str):
                out.add(name, version, bool(entry.get("dev")), workspace=workspace)
        return out.packages()
    dependencies = lock.get("dependencies")
    if isinstance(dependencies, dict):
        _walk_v1(dependencies, out, 0)
    return out.packages()


def _walk_v1(dependencies: dict[str, Any], out: _Collector, depth: int) -> None:
    if depth > 64:
        raise ValueError("package-lock.json nests too deeply")
    for name, entry in dependencies.items():
        if not isinstance(entry, dict):
            continue
        version = entry.get("version")
        if isinstance(version, str) and not version.startswith("file:"):
            out.add(name, version, bool(entry.get("dev")))
        nested = entry.get("dependencies")
        if isinstance(nested, dict):
            _walk_v1(nested, out, depth + 1)


_YARN_V1_VERSION = re.compile(r'^\s+version:?\s+"?([^"\s]+)"?\s*$')


def _descriptor_name(descriptor: str) -> str:
    """`"@scope/name@^1.0.0"` → `@scope/name`; `name@npm:1.0` → `name`."""
    descriptor = descriptor.strip().strip('"')
    at = descriptor.find("@", 1)
    if at <= 0:
        return descriptor
    rest = descriptor[at + 1 :]
    if rest.startswith("npm:") and rest.find("@", 5) > 0:
        return rest[4 : rest.find("@", 5)]  # an alias: `alias@npm:real@^1.0`
    return descriptor[:at]


def parse_yarn_lock(text: str, location: str) -> list[Package]:
    """yarn.lock: the berry (v2+) format is YAML with `__metadata`; classic v1 is its own syntax."""
    if "__metadata:" in text:
        return _parse_yarn_berry(text, location)
    out = _Collector(location)
    name = ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line[0].isspace():
            # `"a@^1", "a@^1.2":` — every descriptor of an entry names the same package.
            name = _descriptor_name(line.rstrip(":").split(",")[0])
            continue
        if name and line.startswith("  ") and not line.startswith("   "):
            match = _YARN_V1_VERSION.match(line)
            if match and line.strip().startswith("version"):
                out.add(name, match.group(1), None)
                name = ""
    return out.packages()


def _load_yaml(text: str, what: str) -> Any:
    """Parse a YAML lockfile into plain strings, lists and dicts (no YAML type resolution).

    PyYAML is imported here rather than at module level: only yarn berry and pnpm lockfiles need
    it, and importing it costs more start-up time than everything else the catalogers import.
    """
    import yaml

    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # libyaml's when PyYAML has it
    try:
        return yaml.load(text, Loader=loader)
    except (yaml.YAMLError, RecursionError) as exc:
        raise ValueError(f"bad {what}: {exc}") from None


_BERRY_SKIP = ("workspace:", "patch:", "link:", "portal:", "file:", "exec:")


def _parse_yarn_berry(text: str, location: str) -> list[Package]:
    lock = _load_yaml(text, "yarn.lock")
    if not isinstance(lock, dict):
        raise ValueError("yarn.lock is not a mapping")
    out = _Collector(location)
    for key, entry in lock.items():
        if key == "__metadata" or not isinstance(entry, dict):
            continue
        resolution = entry.get("resolution", "")
        version = entry.get("version")
        if not isinstance(resolution, str) or not isinstance(version, str):
            continue
        name = _descriptor_name(resolution)
        protocol = resolution[len(name) + 1 :]
        if protocol.startswith(_BERRY_SKIP):
            continue  # the project itself, patched duplicates, local links
        out.add(name, version, None)
    return out.packages()


def _split_pnpm_key(key: str, v5: bool = False) -> tuple[str, str]:
    """Name and version from a pnpm `packages`/`snapshots` key.

    v5: `/name/1.0.0_peer@2` ; v6: `/name@1.0.0(peer@2)` ; v9: `name@1.0.0(peer@2)`.
    """
    key = key.lstrip("/")
    if v5:
        # The version is the last path segment, peers after an underscore.
        name, _, version = key.rpartition("/")
        return name, version.split("_", 1)[0]
    paren = key.find("(")
    if paren > 0:
        key = key[:paren]
    at = key.find("@", 1)
    if at > 0:
        return key[:at], key[at + 1 :]
    return key, ""


def parse_pnpm_lock(text: str, location: str) -> list[Package]:
    """pnpm-lock.yaml: v5/v6 mark `dev` per package; v9 does not, so dev is worked out from the
    importers' dependency lists and the snapshot graph."""
    lock = _load_yaml(text, "pnpm-lock.yaml")
    if not isinstance(lock, dict):
        raise ValueError("pnpm-lock.yaml is not a mapping")
    packages = lock.get("packages") or {}
    if not isinstance(packages, dict):
        raise ValueError("pnpm-lock.yaml 'packages' is not a mapping")
    major = str(lock.get("lockfileVersion", "")).split(".")[0]
    out = _Collector(location)
    prod: set[str] | None = None
    if major.isdigit() and int(major) >= 9:
        prod = _pnpm_v9_prod(lock)
    v5 = major.isdigit() and int(major) < 6
    for key, entry in packages.items():
        if not isinstance(entry, dict):
            entry = {}
        name, version = _split_pnpm_key(key, v5)
        if isinstance(entry.get("name"), str):
            name = entry["name"]
        if isinstance(entry.get("version"), str):
            version = entry["version"]
        if not version or not version[0].isdigit():
            continue
        dev: bool | None
        if prod is not None:
            dev = f"{name}@{version}" not in prod
        elif "dev" in entry:
            dev = entry["dev"] == "true"
        else:
            dev = None
        out.add(name, version, dev)
    return out.packages()


def _pnpm_v9_prod(lock: dict[str, Any]) -> set[str]:
    """`name@version` of everything reachable from a non-dev dependency of any importer."""
    snapshots = lock.get("snapshots") or {}
    if not isinstance(snapshots, dict):
        snapshots = {}
    importers = lock.get("importers") or {}
    stack: list[str] = []
    if isinstance(importers, dict):
        for importer in importers.values():
            if not isinstance(importer, dict):
                continue
            for section in ("dependencies", "optionalDependencies"):
                deps = importer.get(section)
                if isinstance(deps, dict):
                    for dep_name, spec in deps.items():
                        version = spec.get("version") if isinstance(spec, dict) else spec
                        if isinstance(version, str):
                            stack.append(_snapshot_key(dep_name, version))
    seen: set[str] = set()
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        entry = snapshots.get(key)
        if not isinstance(entry, dict):
            continue
        for section in ("dependencies", "optionalDependencies"):
            deps = entry.get(section)
            if isinstance(deps, dict):
                for dep_name, version in deps.items():
                    if isinstance(version, str):
                        stack.append(_snapshot_key(dep_name, version))
    prod: set[str] = set()
    for key in seen:
        name, version = _split_pnpm_key(key)
        prod.add(f"{name}@{version}")
    return prod


def _snapshot_key(name: str, version: str) -> str:
    """A dependency reference as a snapshot key; aliases (`other@1.0.0`) already are one."""
    if version and not version[0].isdigit() and "@" in version[1:]:
        return version
    return f"{name}@{version}"


@register
class NpmLockfileCataloger(Cataloger):
    """npm, yarn and pnpm lockfiles of a project directory."""

    name = "npm-lockfile"
    version = 1
    max_size = 64 * 1024 * 1024
    scopes = frozenset({"fs"})

    def wants(self, path: str, mode: int) -> bool:
        if not path.endswith(LOCKFILES):
            return False
        return posixpath.basename(path) in LOCKFILES and "node_modules/" not in path

    def analyze(self, file: FileInput) -> FileResult | None:
        base = posixpath.basename(file.path)
        data = file.read()
        if base == "package-lock.json":
            packages = parse_package_lock(data, file.path)
        elif base == "yarn.lock":
            packages = parse_yarn_lock(data.decode("utf-8"), file.path)
        else:
            packages = parse_pnpm_lock(data.decode("utf-8"), file.path)
        return FileResult(packages=packages)
