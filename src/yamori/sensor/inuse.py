"""Which files of each container image processes actually use: the sensor's half of "packages in use".

A vulnerability in a library no process ever loads is less urgent than one in the library every
request goes through. The sensor cannot know packages (it sees paths), and the image's inventory
is not at hand on the sensor's hot path, so it records *paths* per image and leaves the mapping
to packages to read time (``yamori image --in-use``, ``yamori.vulndb.inuse``), where the scan
already lists the files each package owns.

What counts as used, for processes in containers (host processes are not an image's):

- every executed file (the exec path, made absolute with the process's cwd);
- files opened successfully without write access (open, openat, openat2) under the system
  prefixes (``/usr``, ``/lib``, ``/lib64``, ``/bin``, ``/sbin``, ``/opt``): the dynamic loader
  opens each shared library before mapping it, so this catches libraries even of processes that
  live for a millisecond;
- the files mapped by each exec'd process, from ``/proc/PID/maps`` read once, shortly after the
  exec (``maps_delay``: the loader needs a moment). Best effort: a process that has already
  exited is counted (``maps_gone``), not an error.

A new path is also resolved through the container's own root (``/proc/PID/root``, symlinks
followed inside that root, never the host's) while the process is alive, so ``/usr/bin/python3``
also records ``/usr/bin/python3.11``: a package owning only the link target still matches.

Keyed by image: the manifest digest podman reports (``ImageDigest``), else the image (config) id.
Both go into the record, since a scan may know the image by either. Records are written every
``interval`` seconds and at exit to ``data_dir()/inuse/<key>.json`` (write to a temp file, then
rename: a reader never sees half a file), merged with what an earlier run recorded.

Bounded memory: at most ``max_paths`` paths per image (later ones are counted as dropped and the
record says ``truncated``), at most ``max_total`` paths held in memory (the least recently used
image is written and forgotten; it is reloaded from its file when seen again), and a bounded
queue of pending ``/proc/PID/maps`` reads.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from yamori.sensor.interface import ContainerInfo, ProcessInfo, RawRecord
from yamori.sensor.proctable import absolute_path

__all__ = [
    "OPEN_TYPES",
    "SYSTEM_PREFIXES",
    "InUseRecorder",
    "InUseStats",
    "image_keys",
    "is_system_path",
    "normalize_digest",
    "parse_maps",
    "resolve_in_root",
]

SYSTEM_PREFIXES = ("/usr/", "/lib/", "/lib64/", "/lib32/", "/libx32/", "/bin/", "/sbin/", "/opt/")
"""Where packages keep code; opens elsewhere (/etc, /proc, /tmp, data) say nothing about use."""

OPEN_TYPES = frozenset({"open", "openat", "openat2"})
"""The syscalls whose successful read opens are recorded (the sensor captures them when on)."""

_AT_FDCWD = -100
_O_ACCMODE = 0o3
_O_WRONLY = 0o1
_O_DIRECTORY = 0o200000
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,200}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def is_system_path(path: str) -> bool:
    """True for an absolute path under one of ``SYSTEM_PREFIXES``."""
    return path.startswith(SYSTEM_PREFIXES)


def normalize_digest(value: str | None) -> str | None:
    """``sha256:<hex>`` for a digest or a bare 64-hex image id (podman's ``Image`` field)."""
    if not value:
        return None
    value = value.strip()
    if _HEX64.match(value):
        return f"sha256:{value}"
    return value if _KEY.match(value) else None


def image_keys(info: ContainerInfo) -> tuple[str | None, str | None]:
    """(manifest digest, image id) of a container's image, normalised; either may be None."""
    return normalize_digest(info.image_digest), normalize_digest(info.image_id)


def parse_maps(text: str) -> list[str]:
    """The files mapped in a ``/proc/PID/maps`` text (pseudo entries and deleted files left out)."""
    files: dict[str, None] = {}
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        path = parts[5]
        if not path.startswith("/") or path.endswith(" (deleted)"):
            continue
        files[path] = None
    return list(files)


def resolve_in_root(root: Path, path: str, max_links: int = 40) -> str | None:
    """``path`` with every symlink followed *inside* ``root`` (a container's ``/proc/PID/root``).

    ``os.path.realpath`` would follow an absolute link target against the host's root; here an
    absolute target restarts at the container's root. None when the root is gone (the process
    exited) or the chain is too long; a missing final component is returned as is.
    """
    pending = [c for c in path.split("/") if c]
    done: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = [*done, part]
        try:
            target = os.readlink(os.path.join(root, *candidate))
        except FileNotFoundError:
            return "/" + "/".join(candidate + pending)
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # not a symlink
                done.append(part)
                continue
            return None  # the root is gone (ENOENT on root itself shows as FileNotFound above)
        links += 1
        if links > max_links:
            return None
        if target.startswith("/"):
            done = []
        pending = [c for c in target.split("/") if c] + pending
    return "/" + "/".join(done)


@dataclass(slots=True)
class InUseStats:
    """Counters printed at the sensor's exit."""

    paths: int = 0  # distinct paths recorded (all images, this run)
    dropped: int = 0  # paths over the per-image bound
    maps_read: int = 0  # /proc/PID/maps files read
    maps_gone: int = 0  # processes that exited before their maps were read
    maps_dropped: int = 0  # maps reads not queued (queue full)
    unresolved: int = 0  # paths dropped because the container's image stayed unknown
    writes: int = 0
    write_errors: int = 0


@dataclass(slots=True)
class _ImageUse:
    key: str
    image: str | None
    digest: str | None
    image_id: str | None
    paths: set[str] = field(default_factory=set)
    truncated: bool = False
    dirty: bool = False


@dataclass(slots=True)
class _ContainerUse:
    image: _ImageUse | None = None
    pending: set[str] = field(default_factory=set)  # paths seen before the image was known
    tries: int = 0


class InUseRecorder:
    """Collect used paths per container, fold them into per-image records, write them out.

    Called from the sensor's main loop only (no locking): ``on_exec`` and ``on_open`` per
    record, ``tick`` every loop turn (due maps reads, periodic writes), ``close`` at exit.
    """

    def __init__(
        self,
        lookup: Callable[[str], ContainerInfo | None],
        directory: Path,
        *,
        max_paths: int = 50_000,
        max_total: int = 400_000,
        max_pending: int = 100_000,
        interval: float = 10.0,
        maps_delay: float = 0.1,
        max_maps_queue: int = 4096,
        proc: Path = Path("/proc"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lookup = lookup
        self.directory = directory
        self.max_paths = max_paths
        self.max_total = max_total
        self.max_pending = max_pending
        self.interval = interval
        self.maps_delay = maps_delay
        self.max_maps_queue = max_maps_queue
        self.proc = proc
        self.clock = clock
        self.stats = InUseStats()
        self._containers: OrderedDict[str, _ContainerUse] = OrderedDict()
        self._images: OrderedDict[str, _ImageUse] = OrderedDict()
        self._total = 0  # paths held in _images
        self._pending_total = 0  # paths held in _ContainerUse.pending
        self._maps: deque[tuple[float, int, str]] = deque()
        self._next_flush = clock() + interval

    # -- records ------------------------------------------------------------------------------

    def on_exec(self, rec: RawRecord, proc: ProcessInfo) -> None:
        """An exec in a container: record the executable, queue a maps read."""
        if proc.container_id == "host" or _runtime_helper(rec.comm):
            return
        path = rec.exepath or proc.exepath
        if path and "exepath" not in rec.truncated and not path.startswith(("/dev/", "/proc/")):
            self._add(proc.container_id, absolute_path(path, proc.cwd), rec.pid, always=True)
        if len(self._maps) >= self.max_maps_queue:
            self.stats.maps_dropped += 1
        else:
            self._maps.append((self.clock() + self.maps_delay, rec.pid, proc.container_id))

    def on_open(self, rec: RawRecord, proc: ProcessInfo) -> None:
        """A successful open without write access under a system prefix."""
        if proc.container_id == "host" or rec.res < 0 or rec.evt_type not in OPEN_TYPES:
            return
        if _runtime_helper(proc.comm):
            return
        name = rec.args.get("name")
        if not isinstance(name, str) or not name or "name" in rec.truncated:
            return
        flags = rec.args.get("flags", 0)
        if isinstance(flags, int) and (flags & _O_ACCMODE == _O_WRONLY or flags & _O_DIRECTORY):
            return  # written, or a directory listing: neither is a package's code in use
        if not name.startswith("/"):
            dirfd = rec.args.get("dirfd", _AT_FDCWD)
            if dirfd != _AT_FDCWD or proc.cwd is None:
                return  # relative to a directory fd the sensor does not track
        self._add(proc.container_id, absolute_path(name, proc.cwd), rec.pid, always=False)

    def _add(self, cid: str, path: str, pid: int, *, always: bool) -> None:
        if not always and not is_system_path(path):
            return
        use = self._containers.get(cid)
        if use is None:
            use = self._containers[cid] = _ContainerUse()
            while len(self._containers) > 4096:
                self._drop_container(next(iter(self._containers)))
        else:
            self._containers.move_to_end(cid)
        if self._known(use, path):
            return
        self._put(use, path)
        # a new path: also what it resolves to inside the container (while the process lives)
        resolved = resolve_in_root(self.proc / str(pid) / "root", path)
        if resolved and resolved != path and is_system_path(resolved) and not self._known(use, resolved):
            self._put(use, resolved)

    @staticmethod
    def _known(use: _ContainerUse, path: str) -> bool:
        return path in use.image.paths if use.image is not None else path in use.pending

    def _put(self, use: _ContainerUse, path: str) -> None:
        if use.image is not None:
            self._put_image(use.image, path)
        elif self._pending_total >= self.max_pending:
            self.stats.dropped += 1
        else:
            use.pending.add(path)
            self._pending_total += 1

    def _put_image(self, image: _ImageUse, path: str) -> None:
        if path in image.paths:
            return
        if len(image.paths) >= self.max_paths:
            image.truncated = True
            self.stats.dropped += 1
            return
        image.paths.add(path)
        image.dirty = True
        self._total += 1
        self.stats.paths += 1
        self._images.move_to_end(image.key)
        while self._total > self.max_total and len(self._images) > 1:
            oldest = next(iter(self._images.values()))
            if oldest is image:
                break
            self._evict(oldest)

    def _drop_container(self, cid: str) -> None:
        use = self._containers.pop(cid)
        if use.pending:
            self.stats.unresolved += len(use.pending)
            self._pending_total -= len(use.pending)

    # -- periodic work ------------------------------------------------------------------------

    def tick(self) -> None:
        """Due maps reads, and a write of changed records every ``interval`` seconds (cheap when idle)."""
        now = self.clock()
        while self._maps and self._maps[0][0] <= now:
            _, pid, cid = self._maps.popleft()
            self._read_maps(pid, cid)
        if now >= self._next_flush:
            self._next_flush = now + self.interval
            self.flush()

    def _read_maps(self, pid: int, cid: str) -> None:
        try:
            text = (self.proc / str(pid) / "maps").read_text(errors="surrogateescape")
        except OSError:
            self.stats.maps_gone += 1
            return
        self.stats.maps_read += 1
        for path in parse_maps(text):
            self._add(cid, path, pid, always=False)

    def flush(self) -> None:
        """Attach pending containers to their images, then write every changed record."""
        for cid, use in list(self._containers.items()):
            if use.image is None:
                self._resolve(cid, use)
        for image in list(self._images.values()):
            if image.dirty:
                self._write(image)

    def _resolve(self, cid: str, use: _ContainerUse) -> None:
        info = self.lookup(cid)
        digest, image_id = image_keys(info) if info is not None else (None, None)
        key = digest or image_id
        if key is None:
            use.tries += 1
            if use.tries >= 3:  # the runtime never knew it: give up on its paths
                self._drop_container(cid)
            return
        image = self._images.get(key)
        if image is None:
            image = self._load(key, info.image if info is not None else None, digest, image_id)
            self._images[key] = image
            self._total += len(image.paths)
        elif image.image_id is None and image_id:
            image.image_id, image.dirty = image_id, True
        use.image = image
        pending, use.pending = use.pending, set()
        self._pending_total -= len(pending)
        for path in pending:
            self._put_image(image, path)

    def close(self) -> None:
        """Read the maps still queued (those processes may be alive now), then write everything."""
        while self._maps:
            _, pid, cid = self._maps.popleft()
            self._read_maps(pid, cid)
        self.flush()

    # -- files --------------------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def _load(self, key: str, image: str | None, digest: str | None, image_id: str | None) -> _ImageUse:
        """An image's record, seeded from its file so runs accumulate (bounded like new paths)."""
        use = _ImageUse(key=key, image=image, digest=digest, image_id=image_id)
        try:
            doc = json.loads(self.path_for(key).read_text())
        except (OSError, ValueError):
            return use
        if not isinstance(doc, dict):
            return use
        paths = doc.get("paths")
        if isinstance(paths, list):
            use.paths = {p for p in paths[: self.max_paths] if isinstance(p, str)}
        use.truncated = bool(doc.get("truncated")) or (
            isinstance(paths, list) and len(paths) > self.max_paths
        )
        use.image = use.image or (doc.get("image") if isinstance(doc.get("image"), str) else None)
        if use.image_id is None and isinstance(doc.get("image_id"), str):
            use.image_id = doc["image_id"]
        return use

    def _write(self, image: _ImageUse) -> None:
        doc = {
            "image": image.image,
            "digest": image.digest,
            "image_id": image.image_id,
            "paths": sorted(image.paths),
            "truncated": image.truncated,
            "updated": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".inuse-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
                    json.dump(doc, handle, indent=0)
                os.replace(tmp, self.path_for(image.key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            self.stats.write_errors += 1
            return
        image.dirty = False
        self.stats.writes += 1

    def _evict(self, image: _ImageUse) -> None:
        """Write an image's record and forget its paths (memory bound); reloaded when seen again."""
        if image.dirty:
            self._write(image)
        self._images.pop(image.key, None)
        self._total -= len(image.paths)
        for use in self._containers.values():
            if use.image is image:
                use.image = None
                use.tries = 0

    def images(self) -> list[str]:
        """Keys of the images held in memory (tests)."""
        return list(self._images)


def _runtime_helper(comm: str) -> bool:
    """runc's init (``runc:[2:INIT]``) runs in the container's cgroup but is the host's binary:
    its libraries are the host's, not the image's."""
    return comm.startswith("runc:")
