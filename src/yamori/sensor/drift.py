"""Drift: executables that were not in the container's image, detected (and killed) when run.

A container's image is read-only below an overlay; everything the container writes lands in its
*upper* directory (``podman inspect`` ``GraphDriver.Data.UpperDir``). An executed path that
exists as a regular file in the upper directory was written or modified (``chmod +x`` copies a
file up) after the container started: that is drift, and it fills Falco's
``proc.is_exe_upper_layer``. A second source covers what the upper directory cannot show (a
container already removed by ``--rm``, a tmpfs such as ``/dev/shm``): paths a process of the
container created, renamed or made executable since the sensor started, tracked from its own
open(O_CREAT)/creat/chmod/rename/link events.

The verdict is taken on the capture reader thread as soon as the exec record is decoded, before
the 20 ms reorder window: that is the earliest point user space sees the exec, the process is
still alive (its cwd resolves relative paths), and ``--prevent-drift`` sends SIGKILL there. A
process that finishes within that latency (a few ms) is reported, not stopped: stopping it
before its first instruction would need the kernel side to decide (BPF LSM), which this
bpftrace backend does not do.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from yamori.sensor.containers import ContainerResolver, container_id_from_cgroup_name
from yamori.sensor.interface import ContainerInfo, RawRecord
from yamori.sensor.proctable import absolute_path

__all__ = ["DriftGuard", "DriftPolicy", "exists_in_upper", "is_written_event"]

O_CREAT = 0o100
_EXEC_BITS = 0o111
NS_LABEL = "io.kubernetes.pod.namespace"


@dataclass(frozen=True, slots=True)
class DriftPolicy:
    """Where ``--prevent-drift`` applies: every container, or those matching an image pattern
    (``fnmatch`` on the image reference) or a Kubernetes namespace (CRI label)."""

    prevent: bool = False
    images: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()

    def applies(self, info: ContainerInfo | None) -> bool:
        if not self.prevent:
            return False
        if not self.images and not self.namespaces:
            return True
        if info is None:
            return False  # scoped policy, unknown container: never kill on a guess
        image = info.image or ""
        if any(fnmatch.fnmatchcase(image, p) for p in self.images):
            return True
        return info.labels.get(NS_LABEL) in self.namespaces


def exists_in_upper(upper_dir: str, path: str) -> bool:
    """Whether ``path`` (absolute, as seen in the container) is a regular file in the upper dir.

    Walks the components with ``O_NOFOLLOW`` relative to the upper directory: the container
    controls that tree, and a symlink it planted (``/tmp -> /``) must not make the sensor look at
    the host's own files.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return False
    flags = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
    try:
        fd = os.open(upper_dir, flags)
    except OSError:
        return False
    try:
        for part in parts[:-1]:
            nxt = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = nxt
        st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        return stat.S_ISREG(st.st_mode)
    except OSError:
        return False
    finally:
        os.close(fd)


def is_written_event(rec: RawRecord) -> str | None:
    """The path a successful syscall record made (possibly) executable, or None.

    Opens with O_CREAT and ``creat`` create files; ``chmod`` with an exec bit makes one
    executable; ``rename``/``link`` put a file under a new name. Relative paths are returned
    as they are (the caller joins them to the process's cwd).
    """
    if rec.res < 0:
        return None
    t = rec.evt_type
    args = rec.args
    value: int | str | None = None
    if t in ("open", "openat", "openat2"):
        flags = args.get("flags", 0)
        if isinstance(flags, int) and flags & O_CREAT:
            value = args.get("name")
    elif t == "creat":
        value = args.get("name")
    elif t in ("chmod", "fchmodat"):
        mode = args.get("mode", 0)
        if isinstance(mode, int) and mode & _EXEC_BITS:
            value = args.get("filename")
    elif t in ("rename", "renameat", "renameat2", "link", "linkat"):
        value = args.get("newpath")
    return value if isinstance(value, str) and value else None


WRITE_TYPES = (
    "open",
    "openat",
    "creat",
    "chmod",
    "fchmodat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
)
"""The syscalls drift tracking needs captured (added to what the rules ask for)."""


class DriftGuard:
    """Decide drift for exec records (reader thread) and remember what containers wrote.

    Memory is bounded: at most ``paths_per_container`` written paths for each of the last
    ``max_containers`` containers (oldest forgotten first; the upper directory still answers
    for live containers).
    """

    def __init__(
        self,
        containers: ContainerResolver,
        policy: DriftPolicy | None = None,
        *,
        proc: Path = Path("/proc"),
        paths_per_container: int = 4096,
        max_containers: int = 1024,
    ) -> None:
        self.containers = containers
        self.policy = policy if policy is not None else DriftPolicy()
        self.proc = proc
        self.paths_per_container = paths_per_container
        self.max_containers = max_containers
        self._written: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()
        self._lock = threading.Lock()
        self.detected = 0
        self.killed = 0
        self.kill_failed = 0

    # -------------------------------------------------------------- written paths (main thread)

    def note_written(self, container_id: str, path: str) -> None:
        with self._lock:
            paths = self._written.get(container_id)
            if paths is None:
                paths = self._written[container_id] = OrderedDict()
                while len(self._written) > self.max_containers:
                    self._written.popitem(last=False)
            else:
                self._written.move_to_end(container_id)
            paths[path] = None
            paths.move_to_end(path)
            while len(paths) > self.paths_per_container:
                paths.popitem(last=False)

    def was_written(self, container_id: str, path: str) -> bool:
        with self._lock:
            paths = self._written.get(container_id)
            return paths is not None and path in paths

    # -------------------------------------------------------------- verdicts

    def _absolute(self, path: str, pid: int, cwd: str | None) -> str:
        if cwd is None and not path.startswith("/"):
            try:
                cwd = os.readlink(self.proc / str(pid) / "cwd")
            except OSError:
                cwd = None
        return absolute_path(path, cwd)

    def is_drift(self, container_id: str, path: str, info: ContainerInfo | None) -> bool:
        """Written by the container since it started (upper layer or our own write events)."""
        if self.was_written(container_id, path):
            return True
        return info is not None and info.upper_dir is not None and exists_in_upper(info.upper_dir, path)

    def check_exec(self, rec: RawRecord) -> None:
        """Set ``rec.drift`` (and kill when the policy says so) for a container's exec record.

        Host processes and execs whose cgroup names no container are left undecided (None);
        the main loop decides those from the process table, without killing.
        """
        cid = container_id_from_cgroup_name(rec.cgroup) if rec.cgroup else None
        if cid is None or not rec.exepath:
            return
        path = self._absolute(rec.exepath, rec.pid, None)
        info = self.containers.get(cid)
        drift = self.is_drift(cid, path, info)
        rec.drift = drift
        if not drift:
            return
        self.detected += 1
        if self.policy.applies(info):
            try:
                os.kill(rec.pid, signal.SIGKILL)
                rec.killed = True
                self.killed += 1
            except OSError:  # already gone: it ran to completion before we saw it
                self.kill_failed += 1

    def decide_late(self, container_id: str, exepath: str, pid: int, cwd: str | None) -> bool | None:
        """A verdict on the main loop for an exec the reader left undecided (no kill)."""
        if container_id == "host" or not exepath:
            return None if container_id != "host" else False
        path = self._absolute(exepath, pid, cwd)
        drift = self.is_drift(container_id, path, self.containers.get(container_id))
        if drift:
            self.detected += 1
        return drift
