"""OS detection from os-release and the distro-specific release files.

os-release is preferred; the older files (`debian_version`, `alpine-release`, `redhat-release`,
`system-release`) fill in when it is missing or, for Debian, to get the point release.
Distroless images have `etc/os-release` (Debian's) and a dpkg `status.d/`, so they need nothing
special here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from yamori.catalog.interface import Cataloger, FileInput, FileResult
from yamori.catalog.registry import register
from yamori.model import OSInfo, Package

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
LEGACY_PATHS = (
    "etc/debian_version",
    "etc/alpine-release",
    "etc/redhat-release",
    "etc/system-release",
    "etc/centos-release",
    "etc/fedora-release",
    "etc/lsb-release",
)

# os-release ID values mapped to yamori's family names (the OSV ecosystem stems).
_FAMILY_BY_ID = {
    "debian": "debian",
    "ubuntu": "ubuntu",
    "alpine": "alpine",
    "rhel": "redhat",
    "centos": "centos",
    "rocky": "rocky",
    "almalinux": "alma",
    "ol": "oracle",
    "amzn": "amazon",
    "fedora": "fedora",
    "wolfi": "wolfi",
    "chainguard": "chainguard",
    "opensuse-leap": "opensuse-leap",
    "opensuse-tumbleweed": "opensuse-tumbleweed",
    "sles": "suse",
    "photon": "photon",
    "mariner": "mariner",
    "azurelinux": "azurelinux",
}

_REDHAT_LIKE = re.compile(r"^(?P<name>.+?) release (?P<version>[\d.]+)", re.IGNORECASE)


def parse_os_release(text: str) -> dict[str, str]:
    """Parse the shell-like KEY=value lines of os-release (quotes and backslash escapes)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            raw = raw[1:-1]
        values[key.strip()] = re.sub(r"\\(.)", r"\1", raw)
    return values


@register
class OSReleaseCataloger(Cataloger):
    name = "os-release"
    version = 1
    max_size = 64 * 1024

    def wants(self, path: str, mode: int) -> bool:
        return path in OS_RELEASE_PATHS or path in LEGACY_PATHS

    def analyze(self, file: FileInput) -> FileResult | None:
        text = file.read().decode("utf-8", "replace")
        info = _detect(file.path, text)
        return FileResult(os=info) if info else None

    def finalize(self, results: Mapping[str, FileResult]) -> list[Package]:
        return []


def _detect(path: str, text: str) -> OSInfo | None:
    if path in OS_RELEASE_PATHS:
        values = parse_os_release(text)
        os_id = values.get("ID", "").lower()
        family = _FAMILY_BY_ID.get(os_id, os_id)
        if not family:
            return None
        return OSInfo(
            family=family,
            version=values.get("VERSION_ID", ""),
            name=values.get("PRETTY_NAME", values.get("NAME", "")),
            codename=values.get("VERSION_CODENAME", ""),
        )
    first = text.strip().splitlines()[0] if text.strip() else ""
    if path == "etc/debian_version":
        return OSInfo(family="debian", version=first) if first else None
    if path == "etc/alpine-release":
        return OSInfo(family="alpine", version=first) if first else None
    if path == "etc/lsb-release":
        values = parse_os_release(text)
        if values.get("DISTRIB_ID", "").lower() == "ubuntu":
            return OSInfo(
                family="ubuntu",
                version=values.get("DISTRIB_RELEASE", ""),
                name=values.get("DISTRIB_DESCRIPTION", ""),
                codename=values.get("DISTRIB_CODENAME", ""),
            )
        return None
    match = _REDHAT_LIKE.match(first)
    if not match:
        return None
    name = match.group("name").lower()
    family = next(
        (fam for key, fam in _LEGACY_NAMES if key in name),
        "redhat",
    )
    return OSInfo(family=family, version=match.group("version"), name=first)


_LEGACY_NAMES = (
    ("centos", "centos"),
    ("rocky", "rocky"),
    ("alma", "alma"),
    ("oracle", "oracle"),
    ("amazon", "amazon"),
    ("fedora", "fedora"),
    ("red hat", "redhat"),
)


def choose_os(results: Mapping[str, FileResult]) -> OSInfo | None:
    """Pick the OS of the final view: os-release first, then the legacy files.

    Debian's os-release lacks the point release for some images and has no VERSION_ID on
    testing/sid; `debian_version` then supplies it.
    """
    by_path = {path: r.os for path, r in results.items() if r.os is not None}
    chosen: OSInfo | None = None
    for path in (*OS_RELEASE_PATHS, *LEGACY_PATHS):
        if path in by_path:
            chosen = by_path[path]
            break
    if chosen and chosen.family == "debian" and not chosen.version:
        legacy = by_path.get("etc/debian_version")
        if legacy:
            chosen.version = legacy.version
    return chosen
