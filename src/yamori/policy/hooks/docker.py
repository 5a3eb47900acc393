"""Hooks for Dockerfile and image-configuration checks that read shell commands.

Both hooks read ``Run`` (``[{command, flags, line}]``), which the Dockerfile adapter and
:func:`yamori.sources.iac.dockerfile.image_config_resource` produce alike, so one policy covers
the Dockerfile and the built image's history.

``docker_package_update_alone`` (CIS Docker 4.7) — a ``RUN`` that refreshes a package index
(``apt-get update``, ``apk update``, ``dnf makecache``, ``zypper refresh``) without installing
from it in the same ``RUN``: the layer cache keeps that index forever, so a later ``RUN ...
install`` installs stale versions.

``docker_package_cache_cleaned`` — a ``RUN`` that installs packages must remove the package
manager's cache in the same ``RUN`` (a later ``RUN rm`` does not shrink the earlier layer), or
not write it (``apk --no-cache``, a BuildKit ``--mount=type=cache`` over the cache directory).

Commands are split into simple commands on ``&&``, ``||``, ``;``, ``|`` and newlines; ``sudo``,
``env`` and ``VAR=value`` prefixes are skipped. Package managers are rows of one table.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from yamori.model.finding import Status
from yamori.model.resource import UNKNOWN, Resource
from yamori.policy.hooks.registry import register_hook
from yamori.policy.interface import ABSENT, CheckResult
from yamori.policy.inventory import Inventory
from yamori.policy.paths import read_attribute

__all__ = ["MANAGERS", "PackageManager", "docker_package_cache_cleaned", "docker_package_update_alone"]


@dataclass(frozen=True, slots=True)
class PackageManager:
    """How one package manager refreshes, installs, and where its cache lives."""

    binaries: frozenset[str]
    update: frozenset[str]
    install: frozenset[str]
    cache_dirs: tuple[str, ...]  # a cache mount over one of these writes nothing to the layer
    rm_dirs: tuple[str, ...]  # removing one of these cleans the layer
    clean: frozenset[str] = frozenset()  # subcommands that empty the cache
    no_cache_flags: frozenset[str] = frozenset()  # install flags that write no cache


MANAGERS: Final = {
    "apt": PackageManager(
        frozenset({"apt-get", "apt", "aptitude"}),
        frozenset({"update"}),
        frozenset({"install", "upgrade", "dist-upgrade", "full-upgrade", "build-dep", "reinstall"}),
        ("/var/lib/apt/lists", "/var/cache/apt"),
        ("/var/lib/apt/lists",),  # Debian images drop downloaded .debs themselves (docker-clean)
    ),
    "apk": PackageManager(
        frozenset({"apk"}),
        frozenset({"update"}),
        frozenset({"add", "upgrade", "fix"}),
        ("/var/cache/apk",),
        ("/var/cache/apk",),
        no_cache_flags=frozenset({"--no-cache"}),
    ),
    "dnf": PackageManager(
        frozenset({"yum", "dnf", "microdnf", "tdnf"}),
        frozenset({"makecache", "check-update"}),
        frozenset({"install", "update", "upgrade", "groupinstall", "reinstall", "localinstall"}),
        ("/var/cache/yum", "/var/cache/dnf"),
        ("/var/cache/yum", "/var/cache/dnf"),
        clean=frozenset({"clean"}),
    ),
    "zypper": PackageManager(
        frozenset({"zypper"}),
        frozenset({"refresh", "ref"}),
        frozenset({"install", "in", "update", "up", "dist-upgrade", "dup", "patch"}),
        ("/var/cache/zypp",),
        ("/var/cache/zypp",),
        clean=frozenset({"clean", "cc"}),
    ),
}
"""Package managers by family; a new one is one row."""

_SEPARATORS = re.compile(r"&&|\|\||;|\||\n")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
_PREFIXES: Final = frozenset({"sudo", "env", "command", "exec", "nice", "time"})


def _words(segment: str) -> list[str]:
    try:
        words = shlex.split(segment, posix=True)
    except ValueError:
        words = segment.split()
    while words and (words[0] in _PREFIXES or words[0].startswith("-") or _ASSIGNMENT.fullmatch(words[0])):
        words = words[1:]
    return words


def _subcommand(words: list[str]) -> tuple[str, list[str]]:
    """(family, subcommand and its words) of a simple command, or ("", [])."""
    if not words:
        return "", []
    binary = words[0].rsplit("/", 1)[-1]
    for family, manager in MANAGERS.items():
        if binary in manager.binaries:
            rest = [w for w in words[1:] if not w.startswith("-")]
            return family, [rest[0] if rest else "", *words[1:]]
    return "", []


def _simple_commands(command: str) -> list[list[str]]:
    return [_words(s) for s in _SEPARATORS.split(command.replace("\\\n", " ")) if s.strip()]


def _runs(resource: Resource) -> list[dict[str, Any]] | None:
    runs = read_attribute(resource, "Run")
    if runs is UNKNOWN:
        return None
    if runs is ABSENT or not isinstance(runs, list):
        return []
    return [r for r in runs if isinstance(r, dict) and isinstance(r.get("command"), str)]


def _where(run: Mapping[str, Any]) -> str:
    line = run.get("line")
    text = " ".join(str(run.get("command", "")).split())
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"line {line}: {text}" if line else text


@register_hook("docker_package_update_alone")
def docker_package_update_alone(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """FAIL for each RUN that refreshes a package index without installing in the same RUN."""
    runs = _runs(resource)
    if runs is None:
        return CheckResult(Status.UNKNOWN, "Run is unknown")
    bad: list[str] = []
    for run in runs:
        updated: set[str] = set()
        installed: set[str] = set()
        for words in _simple_commands(run["command"]):
            family, sub = _subcommand(words)
            if not family:
                continue
            if sub[0] in MANAGERS[family].update:
                updated.add(family)
            if sub[0] in MANAGERS[family].install:
                installed.add(family)
        if updated - installed:
            bad.append(_where(run))
    if bad:
        return CheckResult(
            Status.FAIL, f"package index refreshed without an install: {'; '.join(bad)}", {"runs": bad}
        )
    return CheckResult(Status.PASS, "every index refresh installs in the same RUN")


def _cache_mounts(flags: Any) -> list[str]:
    targets: list[str] = []
    for flag in flags if isinstance(flags, list) else []:
        text = str(flag)
        if not text.startswith("--mount=") or "type=cache" not in text:
            continue
        for part in text[len("--mount=") :].split(","):
            key, _, value = part.partition("=")
            if key in ("target", "dst", "destination"):
                targets.append(value.rstrip("/"))
    return targets


def _cleaned(manager: PackageManager, commands: list[list[str]], family: str, mounts: list[str]) -> bool:
    if any(m.startswith(d) or d.startswith(m) for m in mounts for d in manager.cache_dirs if m):
        return True
    for words in commands:
        fam, sub = _subcommand(words)
        if fam == family and sub[0] in manager.clean:
            return True
        if (
            words
            and words[0].rsplit("/", 1)[-1] == "rm"
            and any(w.startswith(d) for w in words[1:] for d in manager.rm_dirs)
        ):
            return True
    return False


@register_hook("docker_package_cache_cleaned")
def docker_package_cache_cleaned(
    resource: Resource, inventory: Inventory, args: Mapping[str, Any]
) -> CheckResult:
    """FAIL for each RUN that installs packages and leaves the package manager's cache behind."""
    runs = _runs(resource)
    if runs is None:
        return CheckResult(Status.UNKNOWN, "Run is unknown")
    bad: list[str] = []
    installs = 0
    for run in runs:
        commands = _simple_commands(run["command"])
        mounts = _cache_mounts(run.get("flags"))
        for family, manager in MANAGERS.items():
            install_words = [
                sub
                for words in commands
                for fam, sub in [_subcommand(words)]
                if fam == family and sub[0] in manager.install
            ]
            if not install_words:
                continue
            installs += 1
            if all(any(f in manager.no_cache_flags for f in sub) for sub in install_words):
                continue
            if not _cleaned(manager, commands, family, mounts):
                bad.append(f"{_where(run)} ({family} cache not removed)")
    if bad:
        return CheckResult(Status.FAIL, f"package cache left in the layer: {'; '.join(bad)}", {"runs": bad})
    if not installs:
        return CheckResult(Status.PASS, "no package installs")
    return CheckResult(Status.PASS, "every package install removes its cache")
