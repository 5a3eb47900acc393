"""Terraform adapter: HCL directories, ``terraform show -json`` plans and state files.

HCL is evaluated by ``tfparse`` (variables with defaults and tfvars, locals, count, for_each,
dynamic blocks, local modules) in a child process on a *staged copy* of the module's directory
and the local modules it calls, holding only Terraform files that resolve inside the scanned
tree: a symlink or module path leaving the tree is never read, and a tfparse crash costs one
module, which is then read by python-hcl2 (no evaluation: what is not a literal, a variable or a
local becomes ``UNKNOWN``). The child processes are long-lived workers shared by the modules of
a scan (start-up cost paid once per worker, not per module), each request under its own
timeout. Plans and state files already hold values; unknown-after-apply values become
``UNKNOWN``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Final

from yamori.model.resource import UNKNOWN
from yamori.sources.iac._files import (
    directory_files,
    inside,
    read_text,
    relative,
    skipped_dir,
    walk_files,
)
from yamori.sources.iac.interface import IacAdapter, IacIssue, IacOptions, IacResult, reference
from yamori.sources.iac.mapping_aws import TERRAFORM, Block, build_resources

__all__ = ["ADAPTER", "TerraformAdapter"]

_HCL_SUFFIXES: Final = (".tf", ".tf.json")
_VAR_SUFFIXES: Final = (".tfvars", ".tfvars.json")
_META_ARGS: Final = frozenset(
    {
        "count",
        "for_each",
        "depends_on",
        "lifecycle",
        "provider",
        "provisioner",
        "connection",
        "id",
        "__tfmeta",
    }
)
_MAX_STAGED_FILES: Final = 5000
_MODULE_SOURCE = re.compile(r'^\s*source\s*=\s*"([^"]*)"', re.M)
_LOCAL_SOURCE = re.compile(r'"?\bsource"?\s*[=:]\s*"(\.\.?/[^"]*)"')
# A template that tfparse could not resolve keeps its ``${...}``; IAM policy variables such as
# ``${aws:username}`` (a colon, no spaces) are literal text, not Terraform expressions.
_UNRESOLVED = re.compile(r"\$\{(?![A-Za-z0-9_-]+:[A-Za-z0-9_/-]+\})")
_ATTRIBUTE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*(=(?!=)|\{)")


def _is_local_source(source: str) -> bool:
    return source.startswith(("./", "../"))


def _tf_files(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.name.endswith(_HCL_SUFFIXES))
    except OSError:
        return []


class TerraformAdapter(IacAdapter):
    """Terraform root modules (directories), plan JSON and state files."""

    name: ClassVar[str] = "terraform"
    source: ClassVar[str] = "terraform"

    def claims(self, path: Path) -> bool:
        if path.is_dir():
            return bool(_tf_files(path))
        if path.name.endswith(".tfstate"):
            return True
        if path.suffix == ".json" and not path.name.endswith(".tf.json"):
            try:
                with path.open("rb") as handle:
                    head = handle.read(4096)
            except OSError:
                return False
            return b'"terraform_version"' in head or b'"format_version"' in head
        return False

    def inputs(self, root: Path) -> list[Path]:
        """Root modules (directories with .tf files that no other directory uses as a local
        module) and plan/state files under ``root``."""
        dirs: set[Path] = set()
        files: list[Path] = []
        for path in walk_files(root):
            if path.name.endswith(_HCL_SUFFIXES):
                dirs.add(path.parent)
            elif path.name.endswith(".tfstate") or (path.suffix == ".json" and self.claims(path)):
                files.append(path)
        used: set[Path] = set()
        for directory in dirs:
            for tf in _tf_files(directory):
                text, _ = read_text(tf, root, 10 * 1024 * 1024)
                for source in _MODULE_SOURCE.findall(text or ""):
                    if _is_local_source(source):
                        used.add((directory / source).resolve())
        roots = [d for d in sorted(dirs) if d.resolve() not in used]
        return [*roots, *files]

    def close(self) -> None:
        """End the tfparse worker processes kept between modules (the scan calls this when it
        has loaded every unit; a later load starts new ones)."""
        _POOL.close()

    def load(self, path: Path, options: IacOptions | None = None, *, root: Path | None = None) -> IacResult:
        options = options or IacOptions()
        root = root or (path if path.is_dir() else path.parent)
        if not inside(path, root):
            return IacResult(
                errors=[IacIssue(relative(path, root), "outside the scanned directory; not followed")]
            )
        if path.is_dir():
            return _load_directory(path, root, options)
        return _load_json(path, root, options)


ADAPTER: Final = TerraformAdapter()


# --- HCL through tfparse -------------------------------------------------------------------


def _stage(directory: Path, root: Path, result: IacResult, max_bytes: int) -> tuple[Path, set[Path]]:
    """Copy the Terraform files of ``directory`` and of the local modules it calls (transitively)
    that resolve inside ``root`` into a temporary tree laid out as under ``root``.

    Why not the whole tree: a module can only read its own directory and the local module
    sources it names, and copying every file under the root once per root module made a scan of
    N modules cost N x (all files). Module sources are found by a loose pattern (HCL
    ``source = "./x"`` and JSON ``"source": "./x"`` anywhere in a file): one too many only
    stages an extra directory, one too few would lose a module.

    Returns the staging directory and the set of (relative) directories that lost a file
    (escaping symlinks), which are then read without tfparse so no outside content is used.
    """
    stage = Path(tempfile.mkdtemp(prefix="yamori-tf-"))
    tainted: set[Path] = set()
    real_root = root.resolve()
    pending = [directory.resolve()]
    seen: set[Path] = set()
    count = 0
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        if current != real_root and real_root not in current.parents:
            continue  # a module path leaving the root: warned about by _warn_modules
        rel = current.relative_to(real_root)
        if skipped_dir(rel):
            continue
        for path in directory_files(root / rel):
            if not path.name.endswith((*_HCL_SUFFIXES, *_VAR_SUFFIXES)):
                continue
            text, issue = read_text(path, root, max_bytes)
            if issue is not None:
                result.errors.append(issue)
                tainted.add(rel)
                continue
            count += 1
            if count > _MAX_STAGED_FILES:
                result.errors.append(
                    IacIssue(
                        relative(root, root) or ".",
                        f"more than {_MAX_STAGED_FILES} Terraform files; the rest skipped",
                    )
                )
                return stage, tainted
            target = stage / rel / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text or "", encoding="utf-8")
            if path.name.endswith(_HCL_SUFFIXES):
                for source in _LOCAL_SOURCE.findall(text or ""):
                    try:
                        pending.append((current / source).resolve())
                    except (OSError, RuntimeError):  # symlink loop
                        continue
    return stage, tainted


def _var_files(
    directory: Path, staged: Path, options: IacOptions, root: Path, result: IacResult
) -> list[str]:
    """terraform.tfvars, then *.auto.tfvars (sorted), then ``-var-file``s: Terraform's order."""
    names = [p.name for p in sorted(staged.iterdir()) if p.is_file()]
    found: list[str] = [n for n in ("terraform.tfvars", "terraform.tfvars.json") if n in names]
    found += [n for n in names if n.endswith((".auto.tfvars", ".auto.tfvars.json"))]
    for extra in options.var_files:
        text, issue = read_text(extra, extra.parent, 10 * 1024 * 1024)
        if issue is not None or text is None:
            result.errors.append(issue or IacIssue(str(extra), "cannot read"))
            continue
        copy = staged / f".yamori-var-{len(found)}{''.join(extra.suffixes[-1:]) or '.tfvars'}"
        copy.write_text(text, encoding="utf-8")
        found.append(copy.name)
    del directory, root
    return found


_WORKER_COMMAND: Final = (sys.executable, "-m", "yamori.sources.iac._tfparse_worker", "--serve")
_MAX_JOBS_PER_WORKER: Final = 200  # a fresh worker now and then bounds whatever the Go side keeps


class _TfparseWorker:
    """One long-lived tfparse child process (see ``_tfparse_worker``) serving requests in turn.

    Why a child at all: a Go panic must cost one module, not the scan. Why long-lived: process
    start-up was most of the per-module cost. A worker that crashed or overran its timeout is
    killed and never reused; the next request gets a fresh one.
    """

    def __init__(self) -> None:
        # A file, not a pipe: nothing to drain, no deadlock; it lives as long as the worker.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            _WORKER_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        self.buffer = b""
        self.jobs = 0
        self.alive = True

    def evaluate(
        self, directory: Path, var_files: list[str], timeout: float
    ) -> tuple[dict[str, Any] | None, str]:
        """tfparse's JSON for ``directory``, or None and a one-line reason (error, crash, timeout)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.jobs += 1
        error_offset = self.stderr.seek(0, os.SEEK_END)
        request = json.dumps({"dir": str(directory), "vars": var_files}) + "\n"
        try:
            self.process.stdin.write(request.encode("utf-8"))
            self.process.stdin.flush()
        except OSError:
            return None, self._crashed(error_offset)
        line = self._read_line(time.monotonic() + timeout)
        if line is None:
            if self.alive:  # timed out, still running
                self.close(kill=True)
                return None, f"tfparse did not finish in {timeout:.0f}s"
            return None, self._crashed(error_offset)
        try:
            reply = json.loads(line)
        except ValueError:
            self.close(kill=True)
            return None, "tfparse printed invalid JSON"
        if not isinstance(reply, dict):
            return None, "tfparse printed no object"
        if "error" in reply:
            return None, str(reply["error"]).removeprefix("unable to create TerraformConverter: ")
        data = reply.get("data")
        return (data, "") if isinstance(data, dict) else (None, "tfparse printed no object")

    def _read_line(self, deadline: float) -> bytes | None:
        """The next reply line; None at end of output (the worker died, ``alive`` is False)
        or at the deadline (``alive`` stays True)."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                self.alive = False
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def _crashed(self, error_offset: int) -> str:
        """The reason a worker died: Go's ``panic:`` line, else its first line of stderr."""
        self._stop(kill=True)
        self.stderr.seek(error_offset)
        lines = self.stderr.read().decode("utf-8", "replace").splitlines()
        self.close()
        panic = next((line for line in lines if line.startswith("panic:")), None)
        reason = panic or next(
            (line for line in lines if line.strip()), f"exit status {self.process.returncode}"
        )
        return reason.removeprefix("unable to create TerraformConverter: ")

    def _stop(self, *, kill: bool) -> None:
        self.alive = False
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        if kill and self.process.returncode is None:
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def close(self, *, kill: bool = False) -> None:
        """Stop the worker: closing stdin ends it; ``kill`` for one that hung or misbehaved."""
        self._stop(kill=kill)
        self.stderr.close()


class _WorkerPool:
    """Idle tfparse workers shared by the threads that load modules.

    A thread takes an idle worker or starts one, so there are never more workers than modules
    being loaded at once (the scan's thread count). Workers end with :meth:`close` (the scan
    calls it through :meth:`TerraformAdapter.close`) or, at the latest, at interpreter exit.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_TfparseWorker] = []

    def run(self, directory: Path, var_files: list[str], timeout: float) -> tuple[dict[str, Any] | None, str]:
        with self.lock:
            worker = self.idle.pop() if self.idle else None
        if worker is None:
            try:
                worker = _TfparseWorker()
            except OSError as exc:
                return None, f"cannot start tfparse: {exc.strerror or exc}"
        try:
            outcome = worker.evaluate(directory, var_files, timeout)
        except BaseException:
            worker.close(kill=True)
            raise
        if worker.alive and worker.jobs < _MAX_JOBS_PER_WORKER:
            with self.lock:
                self.idle.append(worker)
        elif worker.alive:
            worker.close()
        return outcome

    def close(self) -> None:
        with self.lock:
            workers, self.idle = self.idle, []
        for worker in workers:
            worker.close()


_POOL: Final = _WorkerPool()
atexit.register(_POOL.close)


def _run_tfparse(directory: Path, var_files: list[str], timeout: float) -> tuple[dict[str, Any] | None, str]:
    """tfparse's JSON, or None and a one-line reason (error, crash, timeout)."""
    return _POOL.run(directory, var_files, timeout)


def _load_directory(directory: Path, root: Path, options: IacOptions) -> IacResult:
    result = IacResult()
    stage, tainted = _stage(directory, root, result, options.max_file_bytes)
    try:
        rel = directory.resolve().relative_to(root.resolve())
        staged = stage / rel
        if not staged.is_dir():
            return result
        _warn_modules(directory, root, result)
        data: dict[str, Any] | None = None
        if not any(t == rel or rel in t.parents for t in tainted):
            var_files = _var_files(directory, staged, options, root, result)
            data, reason = _run_tfparse(staged, var_files, options.tfparse_timeout)
            if data is None:
                result.errors.append(_issue_from_tfparse(reason, rel))
        if data is not None:
            blocks = _blocks_from_tfparse(data, stage, rel)
        else:
            before = len(result.errors)
            blocks = _HclFallback(root, options, result).module(directory, "")
            # one line per file: python-hcl2's own syntax error replaces tfparse's for that file
            reread = {e.file for e in result.errors[before:]}
            result.errors[:before] = [e for e in result.errors[:before] if e.file not in reread]
        resources, warnings = build_resources(
            blocks, TERRAFORM, "terraform", region=options.region, account=options.account
        )
        result.resources.extend(resources)
        result.warnings.extend(warnings)
        return result
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _issue_from_tfparse(reason: str, rel: Path) -> IacIssue:
    """``main.tf:5,12-6,1: Invalid expression`` → file main.tf, line 5; falls back to python-hcl2."""
    match = re.match(r"([^:\s]+):(\d+),\d+(?:-\d+(?:,\d+)?)?:\s*(.*)", reason)
    suffix = "; read without evaluation (python-hcl2)"
    if match:
        return IacIssue(match.group(1), match.group(3) + suffix, int(match.group(2)))
    return IacIssue(rel.as_posix() or ".", f"tfparse could not evaluate the module: {reason}{suffix}")


def _warn_modules(directory: Path, root: Path, result: IacResult, seen: set[Path] | None = None) -> None:
    """A warning per module call that is not scanned: remote sources, or paths leaving ``root``."""
    seen = seen if seen is not None else set()
    if directory in seen:
        return
    seen.add(directory)
    for tf in _tf_files(directory):
        text, _ = read_text(tf, root, 10 * 1024 * 1024)
        for match in re.finditer(r'module\s+"([^"]+)"\s*\{', text or ""):
            body = (text or "")[match.end() :]
            source = _MODULE_SOURCE.search(body)
            if source is None:
                continue
            line = (text or "").count("\n", 0, match.start()) + 1
            where = relative(tf, root)
            value = source.group(1)
            if not _is_local_source(value):
                result.warnings.append(
                    IacIssue(
                        where,
                        f'module "{match.group(1)}": source "{value}" is remote; '
                        "not fetched, its resources are not scanned",
                        line,
                    )
                )
            elif not inside(directory / value, root):
                result.warnings.append(
                    IacIssue(
                        where,
                        f'module "{match.group(1)}": source "{value}" is outside '
                        "the scanned directory; not read",
                        line,
                    )
                )
            else:
                _warn_modules((directory / value).resolve(), root, result, seen)


class _Lines:
    """Source lines of the staged files, read once, to find each argument's line."""

    def __init__(self, stage: Path) -> None:
        self.stage = stage
        self.cache: dict[str, list[str]] = {}

    def get(self, filename: str) -> list[str]:
        if filename not in self.cache:
            try:
                self.cache[filename] = (self.stage / filename).read_text(encoding="utf-8").splitlines()
            except OSError:
                self.cache[filename] = []
        return self.cache[filename]


def _argument_lines(lines: list[str], start: int, end: int, skip: list[tuple[int, int]]) -> dict[str, int]:
    """First line of each ``name =`` / ``name {`` between ``start`` and ``end`` (1-based,
    exclusive of the nested block ranges in ``skip``)."""
    found: dict[str, int] = {}
    for number in range(start + 1, min(end, len(lines)) + 1):
        if any(low <= number <= high for low, high in skip):
            continue
        match = _ATTRIBUTE.match(lines[number - 1])
        if match and match.group(1) not in found:
            found[match.group(1)] = number
    return found


class _TfparseConverter:
    """tfparse's JSON → :class:`Block` values (UNKNOWN, references) and origins."""

    def __init__(self, data: dict[str, Any], stage: Path) -> None:
        self.lines = _Lines(stage)
        self.addresses: dict[str, str] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        for entries in data.values():
            for entry in entries if isinstance(entries, list) else []:
                meta = entry.get("__tfmeta", {}) if isinstance(entry, dict) else {}
                if meta.get("type") in ("resource", "data") and isinstance(entry.get("id"), str):
                    self.addresses[entry["id"]] = meta.get("path", "")
                    if meta.get("label") == "aws_iam_policy_document":
                        self.documents[entry["id"]] = entry

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            if "__attribute__" in value:
                return UNKNOWN
            return {k: self.value(v) for k, v in value.items() if k not in ("__tfmeta", "id")}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            if value in self.documents:
                return _policy_document(self.value(self.documents[value]))
            if value in self.addresses:
                return reference(self.addresses[value])
            if _UNRESOLVED.search(value):
                return UNKNOWN
        return value

    def block_values(self, entry: dict[str, Any], origins: dict[str, str], prefix: str) -> dict[str, Any]:
        """Values of one block; nested blocks become lists of dicts, and every argument's line
        is recorded under its source path."""
        meta = entry.get("__tfmeta", {})
        filename, start, end = meta.get("filename", ""), meta.get("line_start", 0), meta.get("line_end", 0)
        nested: list[tuple[int, int]] = []
        for child in entry.values():
            for item in child if isinstance(child, list) else [child]:
                if isinstance(item, dict) and "__tfmeta" in item:
                    m = item["__tfmeta"]
                    nested.append((m.get("line_start", 0), m.get("line_end", 0)))
        lines = _argument_lines(self.lines.get(filename), start, end, nested)
        out: dict[str, Any] = {}
        for key, child in entry.items():
            if key in _META_ARGS:
                continue
            path = f"{prefix}{key}"
            items = child if isinstance(child, list) else [child]
            if items and all(isinstance(i, dict) and "__tfmeta" in i for i in items):
                blocks = []
                for index, item in enumerate(items):
                    m = item["__tfmeta"]
                    origins[f"{path}[{index}]"] = (
                        f"{m.get('filename', filename)}:{m.get('line_start', start)}"
                    )
                    blocks.append(self.block_values(item, origins, f"{path}[{index}]."))
                out[key] = blocks
                continue
            if key in lines:
                origins[path] = f"{filename}:{lines[key]}"
            out[key] = self.value(child)
        return out


def _blocks_from_tfparse(data: dict[str, Any], stage: Path, rel: Path) -> list[Block]:
    converter = _TfparseConverter(data, stage / rel)
    blocks: list[Block] = []
    for block_type, entries in sorted(data.items()):
        for entry in entries if isinstance(entries, list) else []:
            meta = entry.get("__tfmeta", {}) if isinstance(entry, dict) else {}
            if meta.get("type") != "resource":
                continue
            origins: dict[str, str] = {}
            filename = (rel / meta.get("filename", "")).as_posix().removeprefix("./")
            values = converter.block_values(entry, origins, "")
            prefix = rel.as_posix()
            if prefix not in ("", "."):
                origins = {k: f"{prefix}/{v}" for k, v in origins.items()}
            blocks.append(
                Block(
                    type=block_type,
                    address=meta.get("path", block_type),
                    values=values,
                    location=f"{filename}:{meta.get('line_start', 0)}",
                    origins=origins,
                    file=filename,
                )
            )
    return blocks


def _principals(value: Any) -> Any:
    out: dict[str, Any] = {}
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            ids = item.get("identifiers", [])
            kind = item.get("type", UNKNOWN)
            if kind == "*" and ids == ["*"]:
                return "*"
            out.setdefault(kind, []).extend(ids if isinstance(ids, list) else [ids])
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def _policy_document(doc: dict[str, Any]) -> dict[str, Any]:
    """An ``aws_iam_policy_document`` data block as the JSON policy it renders."""
    statements = []
    for stmt in (
        doc.get("statement", []) if isinstance(doc.get("statement"), list) else [doc.get("statement")]
    ):
        if not isinstance(stmt, dict):
            continue
        shaped: dict[str, Any] = {"Effect": stmt.get("effect", "Allow")}
        for arg, key in (
            ("sid", "Sid"),
            ("actions", "Action"),
            ("not_actions", "NotAction"),
            ("resources", "Resource"),
            ("not_resources", "NotResource"),
        ):
            if stmt.get(arg) is not None:
                shaped[key] = stmt[arg]
        for arg, key in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
            if stmt.get(arg) is not None:
                shaped[key] = _principals(stmt[arg])
        conditions: dict[str, dict[str, Any]] = {}
        raw_conditions = stmt.get("condition", [])
        for cond in raw_conditions if isinstance(raw_conditions, list) else [raw_conditions]:
            if isinstance(cond, dict):
                conditions.setdefault(cond.get("test", UNKNOWN), {})[cond.get("variable", UNKNOWN)] = (
                    cond.get("values", UNKNOWN)
                )
        if conditions:
            shaped["Condition"] = conditions
        statements.append(shaped)
    return {"Version": doc.get("version", "2012-10-17"), "Statement": statements}


# --- HCL through python-hcl2 (fallback) -----------------------------------------------------------


_SIMPLE_REF = re.compile(r"^\$\{(var|local)\.([A-Za-z0-9_-]+)\}$")
_RESOURCE_REF = re.compile(r"^\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)(?:\[[^\]]*\])?\.[a-z_]+\}$")
_DOC_REF = re.compile(r"^\$\{data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)\.json\}$")


def _unquote(text: str) -> Any:
    """python-hcl2 keeps string literals quoted; templates with ``${`` stay for the caller."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if inner.startswith("<<"):
            body = inner.split("\n")[1:-1]
            return "\n".join(body)
        try:
            decoded = json.loads(text)
            return decoded if isinstance(decoded, str) else inner
        except ValueError:
            return inner
    return None


class _HclFallback:
    """Reads a module with python-hcl2: literals, variables (defaults and tfvars), literal locals,
    references to other resources; everything else is UNKNOWN. count with a literal number is
    expanded; for_each and dynamic blocks are not (a dynamic block becomes one UNKNOWN element)."""

    def __init__(self, root: Path, options: IacOptions, result: IacResult) -> None:
        self.root = root
        self.options = options
        self.result = result

    def _parse(self, path: Path) -> dict[str, Any] | None:
        import hcl2

        text, issue = read_text(path, self.root, self.options.max_file_bytes)
        if issue is not None or text is None:
            if issue is not None and issue not in self.result.errors:
                self.result.errors.append(issue)
            return None
        if path.name.endswith(".json"):
            try:
                loaded = json.loads(text)
            except ValueError as exc:
                self.result.errors.append(IacIssue(relative(path, self.root), f"invalid JSON: {exc}"))
                return None
            return loaded if isinstance(loaded, dict) else None
        try:
            parsed: dict[str, Any] = hcl2.loads(text)
        except Exception as exc:  # lark raises many types; any of them means "not valid HCL"
            line = getattr(exc, "line", None)
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            issue = IacIssue(relative(path, self.root), f"invalid HCL: {message}", line if line else None)
            if not any(e.file == issue.file and "invalid HCL" in e.message for e in self.result.errors):
                self.result.errors.append(issue)
            return None
        return parsed

    def module(
        self, directory: Path, prefix: str, inputs: dict[str, Any] | None = None, depth: int = 0
    ) -> list[Block]:
        files = [(p, self._parse(p)) for p in _tf_files(directory)]
        parsed = [(p, d) for p, d in files if d is not None]
        variables: dict[str, Any] = {}
        for _path, doc in parsed:
            for item in doc.get("variable", []):
                for name, body in _labelled(item):
                    default = body.get("default") if isinstance(body, dict) else None
                    variables[name] = UNKNOWN if default is None else self._literal(default, {}, {})
        if not prefix:
            for var_file in self._var_file_paths(directory):
                loaded = self._parse(var_file)
                for name, value in (loaded or {}).items():
                    variables[name] = self._literal(value, {}, {})
        variables.update(inputs or {})
        locals_: dict[str, Any] = {}
        for _path, doc in parsed:
            for item in doc.get("locals", []):
                if isinstance(item, dict):
                    for name, value in item.items():
                        if name != "__is_block__":
                            locals_[name] = self._literal(value, variables, {})
        docs: dict[str, Any] = {}
        for _path, doc in parsed:
            for item in doc.get("data", []):
                for kind, body in _labelled(item):
                    if kind == "aws_iam_policy_document":
                        for name, inner in _labelled(body):
                            docs[name] = _policy_document(
                                _plain_blocks(self._literal(inner, variables, locals_))
                            )
        blocks: list[Block] = []
        for path, doc in parsed:
            lines = (read_text(path, self.root, self.options.max_file_bytes)[0] or "").splitlines()
            shown = relative(path, self.root)
            for item in doc.get("resource", []):
                for block_type, body in _labelled(item):
                    for name, inner in _labelled(body):
                        blocks.extend(
                            self._resource(
                                block_type, name, inner, variables, locals_, docs, prefix, shown, lines
                            )
                        )
            for item in doc.get("module", []):
                for name, inner in _labelled(item):
                    source = _unquote(str(inner.get("source", ""))) if isinstance(inner, dict) else None
                    if not isinstance(source, str) or not _is_local_source(source) or depth >= 10:
                        continue
                    target = directory / source
                    if not inside(target, self.root) or not target.is_dir():
                        continue
                    args = {
                        k: self._literal(v, variables, locals_)
                        for k, v in inner.items()
                        if k not in ("source", "version", "__is_block__")
                    }
                    blocks.extend(self.module(target.resolve(), f"{prefix}module.{name}.", args, depth + 1))
        return blocks

    def _var_file_paths(self, directory: Path) -> Iterator[Path]:
        names = sorted(p for p in directory.iterdir() if p.is_file())
        yield from (p for p in names if p.name in ("terraform.tfvars", "terraform.tfvars.json"))
        yield from (p for p in names if p.name.endswith((".auto.tfvars", ".auto.tfvars.json")))
        yield from self.options.var_files

    def _resource(
        self,
        block_type: str,
        name: str,
        body: Any,
        variables: dict[str, Any],
        locals_: dict[str, Any],
        docs: dict[str, Any],
        prefix: str,
        shown: str,
        lines: list[str],
    ) -> list[Block]:
        if not isinstance(body, dict):
            return []
        start = _find_block(lines, block_type, name)
        end = _block_end(lines, start)
        origins: dict[str, str] = {}
        for arg, line in _argument_lines(lines, start, end, []).items():
            origins[arg] = f"{shown}:{line}"
        values = _plain_blocks(
            {
                k: self._literal(v, variables, locals_, docs)
                for k, v in body.items()
                if k not in _META_ARGS and k != "dynamic"
            }
        )
        for dynamic in body.get("dynamic", []) if isinstance(body.get("dynamic"), list) else []:
            for label, _inner in _labelled(dynamic):
                values.setdefault(label, []).append(UNKNOWN)
        address = f"{prefix}{block_type}.{name}"
        count = self._literal(body.get("count"), variables, locals_) if "count" in body else None
        location = f"{shown}:{start}"
        if isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= 1000:
            return [
                Block(block_type, f"{address}[{i}]", values, location, origins, shown) for i in range(count)
            ]
        return [Block(block_type, address, values, location, origins, shown)]

    def _literal(
        self,
        value: Any,
        variables: dict[str, Any],
        locals_: dict[str, Any],
        docs: dict[str, Any] | None = None,
    ) -> Any:
        if isinstance(value, dict):
            return {
                _unquote(k) if k.startswith('"') else k: self._literal(v, variables, locals_, docs)
                for k, v in value.items()
                if k != "__is_block__"
            } | ({"__is_block__": True} if value.get("__is_block__") else {})
        if isinstance(value, list):
            return [self._literal(v, variables, locals_, docs) for v in value]
        if not isinstance(value, str):
            return value
        quoted = _unquote(value)
        if isinstance(quoted, str):
            return UNKNOWN if _UNRESOLVED.search(quoted) else quoted
        match = _SIMPLE_REF.match(value)
        if match:
            table = variables if match.group(1) == "var" else locals_
            return table.get(match.group(2), UNKNOWN)
        match = _DOC_REF.match(value)
        if match and docs is not None and match.group(1) in docs:
            return docs[match.group(1)]
        match = _RESOURCE_REF.match(value)
        if match:
            return reference(f"{match.group(1)}.{match.group(2)}")
        return UNKNOWN


def _labelled(item: Any) -> Iterator[tuple[str, Any]]:
    """python-hcl2's ``{'"label"': body}`` → (label, body)."""
    if isinstance(item, dict):
        for key, body in item.items():
            if key != "__is_block__":
                yield key.strip('"'), body


def _plain_blocks(value: Any) -> Any:
    """Drop python-hcl2's ``__is_block__`` markers (blocks are already lists of dicts)."""
    if isinstance(value, dict):
        return {k: _plain_blocks(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_plain_blocks(v) for v in value]
    return value


def _find_block(lines: list[str], block_type: str, name: str) -> int:
    pattern = re.compile(rf'^\s*resource\s+"?{re.escape(block_type)}"?\s+"?{re.escape(name)}"?\s*\{{')
    return next((i + 1 for i, line in enumerate(lines) if pattern.match(line)), 0)


def _block_end(lines: list[str], start: int) -> int:
    """Line of the brace closing the block opened at ``start`` (strings and comments ignored
    roughly: braces inside quotes are skipped)."""
    depth = 0
    for number in range(start, len(lines) + 1):
        text = re.sub(r'"(?:\\.|[^"\\])*"', '""', lines[number - 1]) if number else ""
        text = text.split("#", 1)[0]
        depth += text.count("{") - text.count("}")
        if number >= start and depth <= 0 and "}" in text:
            return number
    return len(lines)


# --- plan and state JSON ---------------------------------------------------------------------------


def _mask_unknown(values: Any, unknown: Any) -> Any:
    """Apply a plan's ``after_unknown`` mask (true = known only after apply)."""
    if unknown is True:
        return UNKNOWN
    if isinstance(values, dict) and isinstance(unknown, dict):
        merged = dict(values)
        for key, mask in unknown.items():
            merged[key] = _mask_unknown(values.get(key), mask)
        return merged
    if isinstance(values, list) and isinstance(unknown, list):
        return [_mask_unknown(v, unknown[i] if i < len(unknown) else False) for i, v in enumerate(values)]
    if values is None and isinstance(unknown, list) and any(unknown):
        return [_mask_unknown(None, u) for u in unknown]
    return values


def _line_of(text: str, needle: str) -> int | None:
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def _load_json(path: Path, root: Path, options: IacOptions) -> IacResult:
    result = IacResult()
    shown = relative(path, root)
    text, issue = read_text(path, root, options.max_file_bytes)
    if issue is not None or text is None:
        result.errors.append(issue or IacIssue(shown, "cannot read"))
        return result
    try:
        doc = json.loads(text)
    except ValueError as exc:
        result.errors.append(IacIssue(shown, f"invalid JSON: {exc}"))
        return result
    if not isinstance(doc, dict):
        result.errors.append(IacIssue(shown, "not a Terraform plan or state (top level is not an object)"))
        return result
    blocks: list[Block] = []
    if "resource_changes" in doc or "planned_values" in doc:
        for address, block_type, values in _plan_resources(doc):
            line = _line_of(text, f'"address": "{address}"') or _line_of(text, f'"address":"{address}"')
            location = f"{shown}:{line}" if line else shown
            blocks.append(Block(block_type, address, values, location, {}, shown))
    elif isinstance(doc.get("resources"), list):
        if doc.get("version") != 4:
            result.warnings.append(
                IacIssue(shown, f"state format {doc.get('version')!r} (expected 4); read anyway")
            )
        for address, block_type, values in _state_resources(doc):
            line = _line_of(text, f'"name": "{address.rsplit(".", 1)[-1].split("[")[0]}"')
            blocks.append(Block(block_type, address, values, f"{shown}:{line}" if line else shown, {}, shown))
    else:
        result.errors.append(IacIssue(shown, "not a Terraform plan (`terraform show -json`) or state file"))
        return result
    resources, warnings = build_resources(
        blocks, TERRAFORM, "terraform", region=options.region, account=options.account
    )
    result.resources.extend(resources)
    result.warnings.extend(warnings)
    return result


def _plan_resources(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    changes = doc.get("resource_changes")
    if isinstance(changes, list):
        for change in changes:
            if not isinstance(change, dict) or change.get("mode", "managed") != "managed":
                continue
            body = change.get("change") or {}
            if body.get("actions") == ["delete"] or not isinstance(body.get("after"), dict):
                continue
            values = _mask_unknown(body["after"], body.get("after_unknown") or {})
            yield str(change.get("address")), str(change.get("type")), values
        return

    def walk(module: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for res in module.get("resources", []) or []:
            if isinstance(res, dict) and res.get("mode", "managed") == "managed":
                yield str(res.get("address")), str(res.get("type")), dict(res.get("values") or {})
        for child in module.get("child_modules", []) or []:
            if isinstance(child, dict):
                yield from walk(child)

    yield from walk((doc.get("planned_values") or {}).get("root_module") or {})


def _state_resources(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for res in doc.get("resources", []):
        if not isinstance(res, dict) or res.get("mode", "managed") != "managed":
            continue
        base = (
            f"{res['module']}.{res.get('type')}.{res.get('name')}"
            if res.get("module")
            else (f"{res.get('type')}.{res.get('name')}")
        )
        for instance in res.get("instances", []) or []:
            if not isinstance(instance, dict):
                continue
            key = instance.get("index_key")
            suffix = "" if key is None else (f"[{key}]" if isinstance(key, int) else f'["{key}"]')
            yield base + suffix, str(res.get("type")), dict(instance.get("attributes") or {})
