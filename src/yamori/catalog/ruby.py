"""Ruby gems: installed `specifications/*.gemspec`, and `Gemfile.lock` for project scans.

Installed gemspecs are Ruby source written by RubyGems (`s.name = "rake".freeze`). They are
read with regular expressions for the few assignments needed and never evaluated: a scanner
must not run code from the image. Default gems sit in `specifications/default/`, which counts
too. `Gemfile.lock` pins what a project would install and serves the "fs" scope only.
"""

from __future__ import annotations

import posixpath
import re

from yamori.catalog.interface import Cataloger, FileInput, FileResult
from yamori.catalog.registry import register
from yamori.model import Package, PackageType

# `s.name = "rake".freeze` / `spec.name = 'rake'` / `s.name = %q{rake}`
_STRING = r"""(?:"([^"]*)"|'([^']*)'|%q\{([^}]*)\})"""
_NAME = re.compile(r"^\s*\w+\.name\s*=\s*" + _STRING, re.MULTILINE)
_VERSION = re.compile(r"^\s*\w+\.version\s*=\s*(?:Gem::Version\.new\(\s*)?" + _STRING, re.MULTILINE)
_LICENSES = re.compile(r"^\s*\w+\.licen[cs]es?\s*=\s*(\[[^\]]*\]|" + _STRING + ")", re.MULTILINE)
_QUOTED = re.compile(r""""([^"]*)"|'([^']*)'""")
_FILES = re.compile(r"^\s*\w+\.files\s*=\s*\[([^\]]*)\]", re.MULTILINE)
# `# stub: rake 13.0.6 ruby lib` — RubyGems' first-line summary, a fallback.
_STUB = re.compile(r"^# stub: (\S+) (\S+)", re.MULTILINE)


def _first(match: re.Match[str] | None) -> str:
    if match is None:
        return ""
    return next((g for g in match.groups() if g is not None), "")


def parse_gemspec(text: str, location: str) -> Package | None:
    """Name, version, licences and files of an installed gemspec, or None if it lacks them."""
    name = _first(_NAME.search(text))
    version = _first(_VERSION.search(text))
    if not name or not version:
        stub = _STUB.search(text)
        if stub is None:
            return None
        name, version = name or stub.group(1), version or stub.group(2)
    licenses: list[str] = []
    for match in _LICENSES.finditer(text):
        for quoted in _QUOTED.finditer(match.group(0).split("=", 1)[1]):
            value = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
            if value and value not in licenses:
                licenses.append(value)
    files: list[str] = []
    files_match = _FILES.search(text)
    gem_dir = _gem_dir(location, name, version)
    if files_match and gem_dir:
        for quoted in _QUOTED.finditer(files_match.group(1)):
            value = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
            if value:
                files.append("/" + posixpath.normpath(posixpath.join(gem_dir, value)))
    return Package(
        name=name,
        version=version,
        type=PackageType.GEM,
        location=location,
        licenses=licenses,
        files=files,
    )


def _gem_dir(location: str, name: str, version: str) -> str:
    """`…/specifications/x-1.0.gemspec` → `…/gems/x-1.0`, where the gem's files are installed."""
    spec_dir = posixpath.dirname(location)
    if posixpath.basename(spec_dir) == "default":
        return ""  # default gems live inside Ruby's own lib directory, not under gems/
    stem = posixpath.basename(location).removesuffix(".gemspec") or f"{name}-{version}"
    return posixpath.join(posixpath.dirname(spec_dir), "gems", stem)


@register
class GemspecCataloger(Cataloger):
    """Gems installed by RubyGems (or Debian's rubygems-integration)."""

    name = "ruby-gemspec"
    version = 1
    max_size = 4 * 1024 * 1024

    def wants(self, path: str, mode: int) -> bool:
        return path.endswith(".gemspec") and (
            "/specifications/" in path or path.startswith("specifications/")
        )

    def analyze(self, file: FileInput) -> FileResult | None:
        package = parse_gemspec(file.read().decode("utf-8", "replace"), file.path)
        return FileResult(packages=[package]) if package else None


_SPEC_LINE = re.compile(r"^    (\S+) \(([^)]+)\)$")


def parse_gemfile_lock(text: str, location: str) -> list[Package]:
    """The 4-space-indented `name (version[-platform])` lines under `specs:` of the GEM, GIT
    and PATH sections; dependency lines (6 spaces) and other sections are skipped."""
    packages: list[Package] = []
    seen: dict[tuple[str, str], Package] = {}
    section = ""
    in_specs = False
    for line in text.splitlines():
        if line and not line[0].isspace():
            section = line.strip()
            in_specs = False
            continue
        if line.strip() == "specs:":
            in_specs = section in ("GEM", "GIT", "PATH", "PLUGIN SOURCE")
            continue
        if not in_specs:
            continue
        match = _SPEC_LINE.match(line)
        if not match:
            continue
        name, full = match.group(1), match.group(2)
        version, _, platform = full.partition("-")
        known = seen.get((name, version))
        if known is None:
            known = Package(
                name=name,
                version=version,
                type=PackageType.GEM,
                location=location,
                metadata={"source": section.lower(), "platforms": []},
            )
            seen[(name, version)] = known
            packages.append(known)
        # The same gem may be locked for several platforms: one package, all platforms listed.
        known.metadata["platforms"].append(platform or "ruby")
    return packages


@register
class GemfileLockCataloger(Cataloger):
    """Gems pinned by a project's Gemfile.lock."""

    name = "gemfile-lock"
    version = 1
    max_size = 16 * 1024 * 1024
    scopes = frozenset({"fs"})

    def wants(self, path: str, mode: int) -> bool:
        return path.endswith("Gemfile.lock") and posixpath.basename(path) == "Gemfile.lock"

    def analyze(self, file: FileInput) -> FileResult | None:
        return FileResult(packages=parse_gemfile_lock(file.read().decode("utf-8", "replace"), file.path))
