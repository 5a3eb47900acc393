"""A kernel-side filter for opens, derived from the loaded rules: which paths can matter.

Why: opens are the busiest syscalls a rule set asks for (Falco's stable rules name ``open_read``
and ``open_write``), and every event sent to user space costs a ``printf`` into the perf buffer,
a JSON line and a Python rule evaluation — a process opening one file in a loop ran 3.9x slower
under the sensor than alone. Most opens cannot match any rule: the rules constrain ``fd.name`` to
a few prefixes (``/etc/``, log directories …) and basenames. This module computes, from the
compiled rules, a *superset* of the opens any rule can match, as access modes x path prefixes,
exact paths and suffixes; the bpftrace program drops every other open of a host process in the
kernel (counted).

Soundness (what the filter may never drop):

- The analysis (``fold_condition``) pushes ``not`` to the leaves and abstracts every leaf as a
  set of ``PathAtom``; ``and`` intersects, ``or`` unites. A leaf it does not understand
  (regexes, transformers, negated path tests, other fields) is "any open", so the result only
  ever grows. ``evt.type`` leaves that exclude every open type are "no open" — that is how an
  ``execve`` branch of a rule drops out. ``contains`` strings are kept in the analysis but not
  tested in the kernel (the atom widens to its mode, prefix and suffix).
- A rule that can match any open in any mode disables the filter.
- ``fd.name`` is a *normalised* absolute path: relative paths (resolved in user space against
  the process's cwd), paths holding ``/.``, ``//`` or ``..`` (which may normalise to something
  else), paths longer than the scan and paths the kernel could not read always pass.

What else needs opens: drift tracking, packages in use and capture ring buffers — all only for
container processes. Container opens that match no rule are not dropped but *coalesced*: the
same thread opening a path of the same hash in the same access mode again within a second is
counted in the kernel and not sent (those consumers care about which files, not how often).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from yamori.detect.compiler import CompiledRules, EvtTypes, field_values_of, fold_condition
from yamori.detect.condition import Compare, ListValue, Literal, Node, Not
from yamori.sensor.interface import OPEN_SYSCALLS

__all__ = [
    "ALL_MODES",
    "OPEN_TYPES",
    "PathAtom",
    "PathFilter",
    "open_path_filter",
]

OPEN_TYPES = OPEN_SYSCALLS

# Access modes (``flags & O_ACCMODE``): 0 O_RDONLY, 1 O_WRONLY, 2 O_RDWR.
ALL_MODES = frozenset({0, 1, 2})
_READ_MODES = frozenset({0, 2})
_WRITE_MODES = frozenset({1, 2})

_MAX_ATOMS = 256
"""Past this many atoms the analysis gives up on a subtree (sound: a bigger set)."""

MAX_PREFIX = 64
"""Prefixes are compared in the kernel 8 bytes at a time; longer ones are cut (a superset)."""

_PATH_FIELDS = frozenset({"fd.name", "fd.nameraw", "evt.arg.name", "fs.path.name"})
_DIR_FIELDS = frozenset({"fd.directory"})
_BASENAME_FIELDS = frozenset({"fd.filename"})


@dataclass(frozen=True, slots=True)
class PathAtom:
    """Opens in one of ``modes`` whose path starts with ``text`` (``exact``: is ``text``), ends
    with ``suffix`` and holds every string of ``contains`` (tested on the raw path, which for
    the canonical absolute paths the kernel filters equals ``fd.name``)."""

    modes: frozenset[int]
    text: str
    exact: bool = False
    contains: frozenset[str] = frozenset()
    suffix: str = ""

    def covers(self, other: PathAtom) -> bool:
        """Every open ``other`` admits, this one admits too."""
        if not other.modes <= self.modes or not self.contains <= other.contains:
            return False
        if self.suffix and not (
            other.suffix.endswith(self.suffix) or (other.exact and other.text.endswith(self.suffix))
        ):
            return False
        if self.exact:
            return other.exact and other.text == self.text
        return other.text.startswith(self.text)

    def meet(self, other: PathAtom) -> PathAtom | None:
        """The opens both admit (None: none)."""
        modes = self.modes & other.modes
        if not modes:
            return None
        contains = self.contains | other.contains
        a, b = self, other
        if a.suffix.endswith(b.suffix):
            suffix = a.suffix
        elif b.suffix.endswith(a.suffix):
            suffix = b.suffix
        else:
            return None  # a path cannot end with two different strings neither ends with
        if a.exact and b.exact:
            text, exact = (a.text, True) if a.text == b.text else (None, True)
        elif a.exact or b.exact:
            e, p = (a, b) if a.exact else (b, a)
            text, exact = (e.text, True) if e.text.startswith(p.text) else (None, True)
        elif a.text.startswith(b.text):
            text, exact = a.text, False
        elif b.text.startswith(a.text):
            text, exact = b.text, False
        else:
            return None
        if text is None:
            return None
        if exact and (not all(c in text for c in contains) or not text.endswith(suffix)):
            return None
        return PathAtom(modes, text, exact, contains, "" if exact else suffix)


_ANY = frozenset({PathAtom(ALL_MODES, "")})
_NONE: frozenset[PathAtom] = frozenset()


def _simplify(atoms: Iterable[PathAtom]) -> frozenset[PathAtom]:
    """Drop atoms another atom covers (keeps the kernel test short)."""
    items = sorted(set(atoms), key=lambda a: (len(a.text), a.exact, -len(a.modes)))
    kept: list[PathAtom] = []
    for atom in items:
        if not any(k.covers(atom) for k in kept):
            kept.append(atom)
    return frozenset(kept)


def _union(parts: list[frozenset[PathAtom]]) -> frozenset[PathAtom]:
    merged: set[PathAtom] = set()
    for p in parts:
        merged |= p
    if len(merged) > _MAX_ATOMS:
        merged = set(_simplify(merged))
        if len(merged) > _MAX_ATOMS:
            return _ANY
    return _simplify(merged)


def _intersect(parts: list[frozenset[PathAtom]]) -> frozenset[PathAtom]:
    acc = parts[0]
    for p in parts[1:]:
        product = {m for a in acc for b in p if (m := a.meet(b)) is not None}
        # too many combinations: either side alone is a sound superset of the conjunction
        smaller = acc if len(acc) <= len(p) else p
        acc = smaller if len(product) > _MAX_ATOMS else _simplify(product)
    return acc


def _texts(node: Compare) -> list[str] | None:
    value = node.value
    if isinstance(value, Literal):
        return [value.text]
    if isinstance(value, ListValue):
        return [i.text if isinstance(i, Literal) else i.name for i in value.items]
    return None


_GLOB_CHARS = "*?[\\"


def _glob_atom(pattern: str, *, basename: bool = False, prefix_only: bool = False) -> PathAtom:
    """A glob as prefix (up to the first wildcard) + the literal chunks after it as contains.

    For a basename glob (``fd.filename``) the prefix becomes a contains of ``/`` + prefix;
    ``prefix_only`` (``startswith``, ``pmatch``) reads a pattern without wildcards as a prefix."""
    chunks: list[str] = []
    current = ""
    prefix: str | None = None
    for ch in pattern:
        if ch in _GLOB_CHARS:
            if prefix is None:
                prefix = current
            elif current:
                chunks.append(current)
            current = ""
        else:
            current += ch
    if prefix is None and prefix_only:
        return PathAtom(ALL_MODES, _cut(pattern))
    if prefix is None:  # no wildcard: a literal
        return PathAtom(ALL_MODES, "", False, frozenset({"/" + pattern})) if basename else _exact(pattern)
    suffix = current  # the literal after the last wildcard ends the path
    contains = {c for c in chunks if len(c) >= 2}
    if basename:
        if prefix:
            contains.add("/" + prefix)
        return PathAtom(ALL_MODES, "", False, frozenset(contains), suffix)
    return PathAtom(ALL_MODES, _cut(prefix), False, frozenset(contains), suffix)


def _exact(text: str) -> PathAtom:
    if len(text.encode("utf-8", "surrogateescape")) < MAX_PREFIX:
        return PathAtom(ALL_MODES, text, True)
    return PathAtom(ALL_MODES, _cut(text))


def _cut(text: str) -> str:
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) <= MAX_PREFIX:
        return text
    return raw[:MAX_PREFIX].decode("utf-8", "ignore")


def _suffix(text: str) -> PathAtom:
    return PathAtom(ALL_MODES, "", False, frozenset(), text)


def _contains(text: str) -> PathAtom:
    return PathAtom(ALL_MODES, "", False, frozenset({text})) if text else PathAtom(ALL_MODES, "")


def _path_leaf(node: Compare) -> frozenset[PathAtom]:
    """Atoms of a test on the opened file's path (not negated); unknown shapes are "any"."""
    texts = _texts(node)
    if texts is None:
        return _ANY
    op = node.op
    name = node.field.name
    atoms: list[PathAtom]
    if name in _DIR_FIELDS:  # fd.directory: the file lies directly in one of these directories
        if op in ("=", "==", "in"):
            atoms = [PathAtom(ALL_MODES, _cut(t.rstrip("/") + "/")) for t in texts]
        elif op in ("pmatch", "startswith", "glob"):
            atoms = [_glob_atom(t, prefix_only=op != "glob") for t in texts]
        elif op == "contains":
            atoms = [_contains(t) for t in texts]
        else:
            return _ANY
    elif name in _BASENAME_FIELDS:  # fd.filename: the last path component
        if op in ("=", "==", "in"):
            atoms = [_suffix("/" + t) for t in texts]
        elif op == "startswith":
            atoms = [_contains("/" + t) for t in texts]
        elif op == "endswith":
            atoms = [_suffix(t) for t in texts]
        elif op == "contains":
            atoms = [_contains(t) for t in texts]
        elif op == "glob":
            atoms = [_glob_atom(t, basename=True) for t in texts]
        else:
            return _ANY
    elif op in ("=", "==", "in"):
        atoms = [_exact(t) for t in texts]
    elif op in ("startswith", "pmatch", "glob"):
        atoms = [_glob_atom(t, prefix_only=op != "glob") for t in texts]
    elif op == "endswith":
        atoms = [_suffix(t) for t in texts]
    elif op == "contains":
        atoms = [_contains(t) for t in texts]
    else:
        return _ANY
    return _simplify(atoms)


def _mode_leaf(node: Compare, negate: bool) -> frozenset[PathAtom]:
    texts = _texts(node)
    if node.op not in ("=", "==", "!=") or not texts or texts[0] not in ("true", "false"):
        return _ANY
    want = (texts[0] == "true") ^ (node.op == "!=") ^ negate
    modes = _READ_MODES if node.field.name == "evt.is_open_read" else _WRITE_MODES
    return frozenset({PathAtom(modes if want else ALL_MODES - modes, "")})


def _leaf(node: Node, negate: bool) -> frozenset[PathAtom]:
    if not isinstance(node, Compare) or node.field.transformers or node.modifier is not None:
        return _ANY
    name = node.field.name
    if name == "evt.type" and node.field.arg is None:
        types: EvtTypes = field_values_of(Not(node) if negate else node, "evt.type")
        return _ANY if any(types.matches(t) for t in OPEN_TYPES) else _NONE
    if name in ("evt.is_open_read", "evt.is_open_write") and node.field.arg is None:
        return _mode_leaf(node, negate)
    if negate or node.field.arg is not None:
        return _ANY
    if name in _PATH_FIELDS or name in _DIR_FIELDS or name in _BASENAME_FIELDS:
        return _path_leaf(node)
    return _ANY


def condition_atoms(root: Node) -> frozenset[PathAtom]:
    """The opens (access mode x path) for which ``root`` can be true: a superset."""
    return fold_condition(root, _leaf, _intersect, _union)


@dataclass(frozen=True, slots=True)
class PathFilter:
    """The opens to send to user space: ``atoms`` (None: every open, no filter)."""

    atoms: frozenset[PathAtom] | None

    @property
    def passes_everything(self) -> bool:
        return self.atoms is None

    def admits(self, path: str, flags: int | None) -> bool:
        """The user-space twin of the kernel test (tests and docs): would a host open be sent?

        ``flags`` None: unknown (``openat2``), both modes. The kernel tests the widened atoms of
        ``_kernel_atoms`` and sends paths of ``_SHAPE_WORDS`` x 8 bytes or more."""
        if self.atoms is None or not path.startswith("/") or "/." in path or "//" in path or ".." in path:
            return True
        if len(path.encode("utf-8", "surrogateescape")) >= _SHAPE_WORDS * 8:
            return True
        mode = 2 if flags is None else flags & 3
        for atom in _kernel_atoms(self):
            if mode not in atom.modes or not path.endswith(atom.suffix):
                continue
            if path == atom.text if atom.exact else path.startswith(atom.text):
                return True
        return False


def open_path_filter(compiled: CompiledRules) -> PathFilter:
    """The union, over the syscall rules that can match an open, of what each can match."""
    parts: list[frozenset[PathAtom]] = []
    for rule in compiled.rules:
        if rule.source != "syscall":
            continue
        if not any(rule.evttypes.matches(t) for t in OPEN_TYPES):
            continue
        parts.append(condition_atoms(rule.condition))
    if not parts:
        return PathFilter(frozenset())
    atoms = _union(parts)
    if any(a.text == "" and not a.exact and not a.contains and a.modes == ALL_MODES for a in atoms):
        return PathFilter(None)
    return PathFilter(atoms)


def host_mount_namespace(proc: str = "/proc") -> int | None:
    """The inode of the host's mount namespace: processes in another one are in containers.

    Pid 1's namespace; the sensor's own when pid 1's cannot be read (a sandbox that hides it —
    the sensor then runs in the host's namespace or there is nothing better to compare with).
    None when neither can be read: container opens are then filtered like host opens."""
    for pid in ("1", "self"):
        try:
            link = os.readlink(f"{proc}/{pid}/ns/mnt")
        except OSError:
            continue
        m = re.fullmatch(r"mnt:\[(\d+)\]", link)
        if m:
            return int(m.group(1))
    return None


def describe(flt: PathFilter) -> str:
    """One line for the sensor's start-up log."""
    if flt.atoms is None:
        return "every open is sent (a rule can match any path)"
    names = {0: "r", 1: "w", 2: "rw"}
    items = sorted(
        f"{'/'.join(names[m] for m in sorted(a.modes))}:{a.text}{'' if a.exact else '*'}"
        + "".join(f"[{c}]" for c in sorted(a.contains))
        + (f"*{a.suffix}" if a.suffix else "")
        for a in flt.atoms
    )
    return f"{len(items)} path patterns: " + ", ".join(items)


# --------------------------------------------------------------------------- kernel side (bpftrace)

_PRINTABLE = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\")}


def _kernel_text(text: str) -> str | None:
    """``text`` as it can appear in a bpftrace literal / integer compare, or None (not ASCII)."""
    raw = text.encode("utf-8", "surrogateescape")
    return text if all(b in _PRINTABLE for b in raw) else None


def _kernel_atom(atom: PathAtom) -> PathAtom:
    """The atom as the kernel can test it (a superset): non-ASCII parts cut or dropped."""
    text, exact = atom.text, atom.exact
    if _kernel_text(text) is None:
        raw = text.encode("utf-8", "surrogateescape")
        cut = next(i for i, b in enumerate(raw) if b not in _PRINTABLE)
        text, exact = raw[:cut].decode("ascii"), False
    contains = frozenset(c for c in atom.contains if _kernel_text(c) is not None)
    suffix = atom.suffix[-SUFFIX_BYTES:] if _kernel_text(atom.suffix) is not None else ""
    return PathAtom(atom.modes, text, exact, contains, "" if exact else suffix)


def _mode_test(modes: frozenset[int]) -> str | None:
    if modes >= ALL_MODES:
        return None
    return "(" + " || ".join(f"$acc == {m}" for m in sorted(modes)) + ")"


def _word_tests(atom: PathAtom) -> tuple[list[str], int]:
    """Integer compares of the path's first bytes (8 per word, little-endian), words needed.

    A word read that failed (bpf zeroes the destination) is taken as a match: sound."""
    raw = atom.text.encode("ascii") + (b"\0" if atom.exact else b"")
    tests = []
    for k in range(0, len(raw), 8):
        chunk = raw[k : k + 8]
        value = int.from_bytes(chunk, "little")
        word = f"$w{k // 8}"
        if len(chunk) == 8:
            test = f"{word} == {value:#x}"
        else:
            test = f"({word} & {(1 << (8 * len(chunk))) - 1:#x}) == {value:#x}"
        tests.append(test if k == 0 else f"({word} == 0 || {test})")
    return tests, (len(raw) + 7) // 8


SUFFIX_BYTES = 8
"""Suffixes are compared in the kernel on the path's last 8 bytes (one integer)."""

_SHAPE_WORDS = 25
"""Words (8 bytes) of the path scanned for ``/.``, ``//`` and ``..``: 200 bytes, bpftrace's
string size; a longer path is passed to user space."""

_SHAPE_CHECK = """\
$odd = 0; $end = 0; $i = (uint64)0; $carry = (uint64)0; $h = (uint64)0xcbf29ce484222325;
$prev = (uint64)0; $tail = (uint64)0;
unroll(%(words)d) {
  if ($end == 0 && $odd == 0) {
    $w = *(uint64*)($u + $i);
    $x = $w ^ 0x2f2f2f2f2f2f2f2f;
    $s = ($x - 0x0101010101010101) & ~$x & 0x8080808080808080;
    $y = $w ^ 0x2e2e2e2e2e2e2e2e;
    $d = ($y - 0x0101010101010101) & ~$y & 0x8080808080808080;
    $z = ($w - 0x0101010101010101) & ~$w & 0x8080808080808080;
    if ($z != 0) {
      $m = (($z & (0 - $z)) >> 7) - 1;
      $s = $s & $m; $d = $d & $m; $w = $w & $m; $end = 1;
      $k8 = (uint64)0;
      if (($m >> 32) != 0) { $k8 = 32; }
      if (($m >> ($k8 + 16)) != 0) { $k8 += 16; }
      if (($m >> ($k8 + 8)) != 0) { $k8 += 8; }
      if ($m != 0) { $k8 += 8; }
      $tail = $prev;
      if ($k8 != 0) { $tail = ($prev >> $k8) | ($w << (64 - $k8)); }
    }
    $prev = $w;
    $h = ($h ^ $w) * 0x100000001b3;
    if (($s & ($d >> 8)) != 0 || ($s & ($s >> 8)) != 0 || ($d & ($d >> 8)) != 0) { $odd = 1; }
    if ($carry != 0 && (($d & 0x80) != 0 || ($s & 0x80) != 0)) { $odd = 1; }
    $carry = ($s | $d) & 0x8000000000000000;
    $i += 8;
  }
}
if ($end == 0) { $odd = 1; }"""
"""Is the path possibly not canonical (holds ``/.``, ``//`` or ``..``)? Branch-free byte tests
on 8-byte words (the "has a zero byte" trick on the path XOR ``/`` and XOR ``.``): its false
positives (a borrow marking a byte above a real match) only send more; it never misses one.
Bytes after the terminating NUL (whatever follows the string in the caller's memory) are
masked off below the first zero byte, which the trick finds exactly. The same pass hashes the
path (FNV-style over the masked words) into ``$h`` for coalescing, and leaves its last 8 bytes
in ``$tail`` (from the last two words, shifted by the NUL's position ``$k8``/8) for suffixes.
``strcontains`` would do the same but costs the verifier over a million instructions for
three calls, and the BPF stack its literals."""


def _kernel_atoms(flt: PathFilter) -> list[PathAtom]:
    """The atoms as the kernel tests them: prefixes and suffixes of up to ``SUFFIX_BYTES``
    (a longer suffix is tested on its last bytes), a superset of ``flt``.

    A ``contains`` string holding ``..``, ``/.`` or ``//`` makes its atom redundant: every such
    path is sent by the shape check. Other ``contains`` strings are dropped (the atom widens to
    its mode, prefix and suffix), since substring tests are what the verifier cannot afford."""
    assert flt.atoms is not None
    out = set()
    for atom in flt.atoms:
        if any(".." in c or "/." in c or "//" in c for c in atom.contains):
            continue
        k = _kernel_atom(atom)
        out.add(PathAtom(k.modes, k.text, k.exact, frozenset(), k.suffix))
    return sorted(_simplify(out), key=lambda a: (a.text, a.exact, sorted(a.modes)))


def _suffix_test(suffix: str) -> str:
    """``$tail`` (the path's last 8 bytes, little-endian) ends with ``suffix`` (<= 8 bytes)."""
    raw = suffix.encode("ascii")
    value = int.from_bytes(raw, "little")
    if len(raw) == 8:
        return f"$tail == {value:#x}"
    return f"($tail >> {8 * (8 - len(raw))}) == {value:#x}"


@dataclass(frozen=True, slots=True)
class StashView:
    """How an exit block reads one syscall's stashed entry arguments (see ``bpftrace.py``)."""

    guard: str  # a predicate true when this thread has a stash (the syscall was entered)
    load: str  # statements setting ``$id`` (the entry timestamp) from the stash
    cleanup: str  # statements forgetting it
    ints: dict[str, str]  # argument name -> expression, for the integer arguments
    strings: list[str]  # expressions of the user pointers, in argument order
    failed: str  # a BPF expression true for a call to drop because it failed ("0": keep all)
    tracepoint: str


def open_decision_blocks(
    flt: PathFilter,
    *,
    view: StashView,
    flags_var: str | None,
    fixed_mode: int | None,
    host_mntns: int | None,
    coalesce_containers: bool,
) -> str:
    """The ``sys_exit`` block that decides which opens to send: it sets ``@pf[tid]``.

    The printing block (``/@pf[tid]/``) follows it (programs on one tracepoint run in order) and
    cleans up after the opens sent; this one cleans up after the others. It tests the access
    mode and the prefix atoms as integer compares (8 path bytes at a time, no string copy), then
    the path's shape while hashing it, and coalesces a container thread's repeats by that hash
    (a 64-bit collision within a second on one thread would coalesce a different path: only
    opens no rule can match are ever coalesced). ``flags_var`` holds the open's flags (None:
    ``fixed_mode``: 1 for ``creat``, 2 — read and write — when unknown, as for ``openat2``).
    ``view.failed`` is true for an open to drop because it failed.
    """
    atoms = _kernel_atoms(flt)
    words = max([1] + [_word_tests(a)[1] for a in atoms])
    acc = f"$acc = (int64)({flags_var} & 3);" if flags_var else f"$acc = (int64){fixed_mode};"

    def guard(atom: PathAtom) -> str:
        parts = _word_tests(atom)[0]
        mode = _mode_test(atom.modes)
        if mode:
            parts.insert(0, mode)
        return "(" + " && ".join(parts) + ")" if parts else "1"

    def header(predicate: str) -> str:
        return f"tracepoint:syscalls:sys_exit_{view.tracepoint} /{predicate}/ {{\n  "

    cleanup = view.cleanup
    first = [view.load, f"$u = uptr({view.strings[0]});", acc, "$w0 = *(uint64*)$u;"]
    first += [f"$w{k} = *(uint64*)($u + {8 * k});" for k in range(1, words)]
    first.append("$pass = ($w0 & 0xff) != 0x2f;  /* relative, empty, unreadable: user space */")
    first += [f"if ($pass == 0 && {guard(a)}) {{ $pass = 1; }}" for a in atoms if not a.suffix]
    first.append("if ($pass == 0) {")
    first += ["  " + line for line in (_SHAPE_CHECK % {"words": _SHAPE_WORDS}).splitlines()]
    first.append("  $pass = $odd;")
    for atom in (a for a in atoms if a.suffix):
        first.append(f"  if ($pass == 0 && {guard(atom)} && {_suffix_test(atom.suffix)}) {{ $pass = 1; }}")
    first.append("}")
    if coalesce_containers and host_mntns is not None:
        first += [
            "if ($pass == 0) {",
            f"  if (curtask->nsproxy->mnt_ns->ns.inum != {host_mntns}) {{",
            "    if (@lasth[tid] == $h && @lasta[tid] == $acc && nsecs - @lastt[tid] < 1000000000) {",
            "      @kcoalesced = count();",
            "    } else {",
            "      @lasth[tid] = $h; @lasta[tid] = $acc; @lastt[tid] = nsecs; $pass = 1;",
            "    }",
            "  } else { @kfiltered = count(); }",
            "}",
        ]
    else:
        first.append("if ($pass == 0) { @kfiltered = count(); }")
    first.append(f"if ($pass) {{ @pf[tid] = 1; }} else {{ {cleanup} }}")
    blocks = [
        header(view.guard)
        + f"if ({view.failed}) {{ {cleanup} }} else {{\n  "
        + "\n  ".join(first)
        + "\n  }\n}\n"
    ]
    return "".join(blocks)


FILTER_MAPS = ("@pf", "@lasth", "@lasta", "@lastt")
"""Per-thread maps of the open filter (cleared at exit and END)."""

COUNTER_MAPS = ("@kfiltered", "@kcoalesced")
"""The kernel-side counters, printed every few seconds as JSON ``map`` lines."""
