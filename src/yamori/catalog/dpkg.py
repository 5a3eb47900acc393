"""Debian packages from dpkg's database.

Three kinds of file meet in `finalize`:

- the package records: `var/lib/dpkg/status`, or, in distroless images (which have no dpkg),
  one file per package under `var/lib/dpkg/status.d/` holding the package's control stanza;
- the file lists `var/lib/dpkg/info/NAME.list` (`NAME:ARCH.list` for Multi-Arch: same
  packages), which let runtime observations and language catalogers map files back to owners;
- the licences, from `usr/share/doc/NAME/copyright` when it is in the machine-readable DEP-5
  format (free-form copyright files carry no reliable short name, so they give none).

Each is parsed per path so that layers can replace or delete them one by one, then joined.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace

from yamori.catalog.interface import Cataloger, FileInput, FileResult
from yamori.catalog.registry import register
from yamori.model import Package, PackageType

STATUS_PATH = "var/lib/dpkg/status"
STATUS_DIR = "var/lib/dpkg/status.d/"
INFO_DIR = "var/lib/dpkg/info/"
DOC_DIR = "usr/share/doc/"
# "install ok installed"; "hold ok installed" is installed too (held back from upgrades).
_INSTALLED_WANTS = frozenset({"install", "hold"})
_SOURCE = re.compile(r"^(?P<name>[^\s(]+)(?:\s*\((?P<version>[^)]+)\))?\s*$")
_LICENSE_SEPARATOR = re.compile(r",|\s+(?:and|or)\s+", re.IGNORECASE)
_FIELD = re.compile(r"^(?P<key>[A-Za-z0-9][!-9;-~]*):(?P<value>.*)$")


def parse_stanzas(text: str) -> Iterator[dict[str, str]]:
    """RFC 822-style control paragraphs as dicts (continuation lines joined with newlines).

    Field names are case-insensitive in deb822, so keys are lower-cased.
    """
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, None
            continue
        if line[0] in " \t":
            if last is not None:
                fields[last] += "\n" + line.strip()
            continue
        if line.startswith("#"):
            continue
        match = _FIELD.match(line)
        if match is None:
            raise ValueError(f"not a control-file line: {line[:40]!r}")
        last = match.group("key").lower()
        fields[last] = match.group("value").strip()
    if fields:
        yield fields


def _is_installed(stanza: Mapping[str, str]) -> bool:
    """Whether dpkg considers the package installed.

    Distroless `status.d` stanzas come from the packages' control files and carry no Status
    field at all; they describe installed packages.
    """
    status = stanza.get("status")
    if status is None:
        return True
    parts = status.split()
    return len(parts) == 3 and parts[0] in _INSTALLED_WANTS and parts[2] == "installed"


def package_from_stanza(stanza: Mapping[str, str], location: str) -> Package | None:
    """A Package for an installed stanza; None for removed or half-done ones."""
    name = stanza.get("package")
    version = stanza.get("version")
    if not name or not version or not _is_installed(stanza):
        return None
    source_name, source_version = name, version
    source = stanza.get("source")
    if source:
        match = _SOURCE.match(source)
        if match is None:  # e.g. an unclosed parenthesis: keep the name, trust nothing else
            source_name = source.split()[0].split("(")[0] or name
        else:
            source_name = match.group("name")
            source_version = (match.group("version") or version).strip()
    metadata: dict[str, object] = {}
    for key in ("maintainer", "installed-size", "multi-arch"):
        if key in stanza:
            metadata[key.replace("-", "_")] = stanza[key]
    arch = stanza.get("architecture") or None
    return Package(
        name=name,
        version=version,
        type=PackageType.DEB,
        location=location,
        source_name=source_name,
        source_version=source_version,
        arch=arch,
        metadata=metadata,
    )


def parse_status(text: str, location: str) -> list[Package]:
    """Installed packages of a status file (or one status.d file)."""
    packages = []
    stanzas = 0
    for stanza in parse_stanzas(text):
        stanzas += 1
        pkg = package_from_stanza(stanza, location)
        if pkg is not None:
            packages.append(pkg)
    if text.strip() and stanzas == 0:
        raise ValueError("no control paragraphs found")
    return packages


def parse_file_list(text: str) -> list[str]:
    """Owned files of a `.list`, as absolute paths, without the directories.

    dpkg lists every directory a package ships, including shared ones like `/usr/bin`. The
    cheap, exact-enough rule: an entry that is an ancestor of another entry is a directory.
    (An empty directory stays in; knowing that would take the filesystem.)
    """
    entries = [line for line in (raw.strip() for raw in text.splitlines()) if line]
    entries = ["/" + e.lstrip("/") for e in entries if e not in ("/.", ".", "/")]
    parents: set[str] = set()
    for entry in entries:
        parent = posixpath.dirname(entry)
        while parent not in parents and parent != "/":
            parents.add(parent)
            parent = posixpath.dirname(parent)
    return [e for e in entries if e not in parents]


def parse_dep5_licenses(text: str) -> list[str] | None:
    """Short licence names of a machine-readable (DEP-5) copyright file, deduplicated in order.

    Returns None when the file is not DEP-5: the first paragraph must have a `Format` field
    naming the copyright-format specification.
    """
    try:
        paragraphs = list(parse_stanzas(text))
    except ValueError:
        return None
    if not paragraphs or "copyright-format" not in paragraphs[0].get("format", ""):
        return None
    names: list[str] = []
    for paragraph in paragraphs:
        expression = paragraph.get("license", "").split("\n", 1)[0]
        # "GPL-2+ or Artistic, and Unicode" names three licences; "with ... exception" stays
        # attached to the licence it modifies.
        for short in _LICENSE_SEPARATOR.split(expression):
            short = short.strip()
            if short and short not in names:
                names.append(short)
    return names


def _doc_package(path: str) -> str | None:
    """NAME for `usr/share/doc/NAME/copyright`, else None."""
    if not path.startswith(DOC_DIR) or not path.endswith("/copyright"):
        return None
    middle = path[len(DOC_DIR) : -len("/copyright")]
    return middle if middle and "/" not in middle else None


@register
class DpkgCataloger(Cataloger):
    """dpkg status / status.d, joined with info/*.list file lists and DEP-5 licences."""

    name = "dpkg"
    version = 1
    max_size = 256 * 1024 * 1024  # a full desktop's status file is ~10 MB; lists are smaller
    scopes = frozenset({"image", "rootfs"})

    def wants(self, path: str, mode: int) -> bool:
        if path == STATUS_PATH:
            return True
        if path.startswith(STATUS_DIR):
            rest = path[len(STATUS_DIR) :]
            return bool(rest) and "/" not in rest and not rest.endswith(".md5sums")
        if path.startswith(INFO_DIR):
            return path.endswith(".list") and "/" not in path[len(INFO_DIR) :]
        return _doc_package(path) is not None

    def analyze(self, file: FileInput) -> FileResult | None:
        path = file.path
        text = file.read().decode("utf-8", "replace")
        if path == STATUS_PATH or path.startswith(STATUS_DIR):
            if "\x00" in text:
                raise ValueError("binary content where a control file was expected")
            return FileResult(packages=parse_status(text, path))
        if path.startswith(INFO_DIR):
            stem = posixpath.basename(path)[: -len(".list")]
            name, _, arch = stem.partition(":")
            return FileResult(extra={"files": {name: parse_file_list(text)}, "arch": arch})
        doc = _doc_package(path)
        licenses = parse_dep5_licenses(text) if doc else None
        return FileResult(extra={"licenses": {doc: licenses}}) if doc and licenses else None

    def finalize(self, results: Mapping[str, FileResult]) -> list[Package]:
        """Attach file lists and licences to the packages of the surviving status files."""
        files: dict[tuple[str, str], list[str]] = {}
        licenses: dict[str, list[str]] = {}
        for result in results.values():
            for name, paths in result.extra.get("files", {}).items():
                files[(name, str(result.extra.get("arch", "")))] = list(paths)
            for name, names in result.extra.get("licenses", {}).items():
                licenses[name] = list(names)
        packages: list[Package] = []
        for path in sorted(results):
            for pkg in results[path].packages:
                owned = files.get((pkg.name, pkg.arch or "")) or files.get((pkg.name, ""), [])
                packages.append(
                    replace(
                        pkg,
                        files=list(owned),
                        licenses=list(licenses.get(pkg.name, pkg.licenses)),
                        metadata=dict(pkg.metadata),
                    )
                )
        return packages
