"""Dockerfile adapter, and the same view of a built image's configuration.

A Dockerfile becomes one ``docker.dockerfile`` resource: ``stages`` (every ``FROM`` with its
``base`` {image, tag, digest} and its ``instructions`` [{cmd, args, line, flags, form}]) plus
**normalised attributes of the image the final stage produces**, following ``FROM <stage>``
chains because a stage inherits everything of the stage it starts from:

``User`` (last ``USER``; ``""`` when none: root), ``RunsAsRoot``, ``Healthcheck`` (``present`` |
``NONE``; absent when never declared), ``Env`` and ``Args`` (names only — values are never
kept), ``Expose`` (``80/tcp``), ``Run`` [{command, line, flags}], ``Add`` [{sources,
destination, remote, archive, checksum, line}] and ``BaseImage`` {image, tag, digest}.

:func:`image_config_resource` maps an image's configuration (``ArtifactInfo.config`` and its
history ``created_by`` lines, or a raw image config JSON) to the **same attributes** with kind
``docker.image_config``, so one policy checks the Dockerfile in the repository and the image in
the registry (CIS Docker Benchmark section 4). Why our own parser: the grammar is small
(continuations, parser directives, heredocs, JSON vs shell form) and a dependency would still
need the stage and variable logic written here. Nothing is ever executed.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

from yamori.model.resource import UNKNOWN, Resource
from yamori.sources.iac._files import read_text, relative
from yamori.sources.iac.interface import IacAdapter, IacIssue, IacOptions, IacResult

if TYPE_CHECKING:
    from yamori.model.artifact import ArtifactInfo

__all__ = [
    "ADAPTER",
    "SECRET_NAME",
    "DockerfileAdapter",
    "DockerfileError",
    "image_config_resource",
    "normalise",
    "parse_dockerfile",
    "parse_image_ref",
    "runs_as_root",
]

SECRET_NAME: Final = re.compile(
    r"(?i).*(passw(or)?d|passphrase|secret|token|credential|api_?key|access_?key|private_?key"
    r"|auth_?key|signing_?key|encryption_?key|master_?key|(^|_)key$).*"
)
"""Names of variables that usually carry a secret. ``GPG_KEY`` (a public key id the official
Python images set) is excluded by :data:`NOT_SECRET_NAME`."""
NOT_SECRET_NAME: Final = re.compile(r"(?i)(gpg|pgp|public)_?keys?|.*_key_?(id|file|path|url)")
_REDACTED: Final = "<redacted>"
_MAX_INSTRUCTION_LINES: Final = 20_000
_KNOWN: Final = frozenset(
    {
        "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
        "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    }
)  # fmt: skip
_HEREDOC_CMDS: Final = frozenset({"RUN", "COPY", "ADD"})
_HEREDOC = re.compile(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_DIRECTIVE = re.compile(r"#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$")
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_REMOTE = re.compile(r"^(https?|git|ssh)://|^git@", re.IGNORECASE)
_ARCHIVE_SUFFIXES: Final = (
    ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst",
)  # fmt: skip
_ROOT_USERS: Final = frozenset({"", "root", "0"})


class DockerfileError(ValueError):
    """A Dockerfile that cannot be read as a whole; the message is one line."""


def parse_image_ref(ref: str) -> dict[str, str]:
    """``registry:5000/team/app:1.2@sha256:..`` → {image, tag, digest} (tag/digest "" if absent)."""
    name, _, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return {"image": name, "tag": tag, "digest": digest}


def runs_as_root(user: Any) -> Any:
    """True when a ``USER`` value means UID 0 (unset, ``root``, ``0``, ``root:grp``, ``0:0``)."""
    if user is UNKNOWN:
        return UNKNOWN
    if not isinstance(user, str):
        return True
    return user.split(":", 1)[0].strip() in _ROOT_USERS


def _secret_name(name: str) -> bool:
    return bool(SECRET_NAME.fullmatch(name)) and not NOT_SECRET_NAME.fullmatch(name)


# --- parsing -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Instruction:
    cmd: str
    args: str
    line: int
    heredocs: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        flags, rest = _split_flags(self.args) if self.cmd in _FLAGGED else ([], self.args)
        form = "exec" if _json_list(rest) is not None else "shell"
        out: dict[str, Any] = {
            "cmd": self.cmd,
            "args": _redact(self.cmd, self.args),
            "line": self.line,
            "flags": flags,
            "form": form,
        }
        if self.heredocs:
            out["heredocs"] = self.heredocs
        return out


_FLAGGED: Final = frozenset({"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"})


def _redact(cmd: str, args: str) -> str:
    """ENV/ARG values whose names look secret are replaced: the inventory must not hold them."""
    if cmd not in ("ENV", "ARG"):
        return args
    pairs = _assignments(args, legacy=cmd == "ENV")
    if not any(_secret_name(k) and v for k, v in pairs):
        return args
    return " ".join(
        f"{k}={_REDACTED}" if _secret_name(k) and v else (f"{k}={v}" if v else k) for k, v in pairs
    )


def _json_list(text: str) -> list[str] | None:
    text = text.strip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return (
        [str(v) for v in value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value)
        else None
    )


def _split_flags(args: str) -> tuple[list[str], str]:
    """Leading ``--flag=value`` words (``RUN --mount=...``, ``COPY --from=...``) and the rest."""
    flags: list[str] = []
    rest = args.lstrip()
    while rest.startswith("--"):
        word, _, after = rest.partition(" ")
        flags.append(word)
        rest = after.lstrip()
    return flags, rest


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError:
        return text.split()


def _assignments(args: str, legacy: bool) -> list[tuple[str, str]]:
    """``K=V K2="v 2"`` (or legacy ``ENV K value words``) → [(name, value)]."""
    words = _words(args)
    if legacy and words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    return [(w.partition("=")[0], w.partition("=")[2]) for w in words if w.partition("=")[0]]


def parse_dockerfile(text: str) -> tuple[list[_Instruction], list[IacIssue], str]:
    """Instructions in order, per-line issues, and the escape character.

    Raises :class:`DockerfileError` for input that has no end (a continuation or heredoc running
    to the end of the file): everything after its start would be one instruction, so the file's
    meaning is unknowable.
    """
    lines = text.splitlines()
    escape = "\\"
    issues: list[IacIssue] = []
    out: list[_Instruction] = []
    i = 0
    # Parser directives: only at the very top, before any other line.
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i].strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
        i += 1
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i + 1
        parts: list[str] = []
        current = raw
        while current.rstrip().endswith(escape):
            parts.append(current.rstrip()[: -len(escape)])
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                i += 1  # empty and comment lines inside a continuation are dropped
            if i >= len(lines):
                raise DockerfileError(
                    f"line {start}: line continuation never ends (reaches the end of the file)"
                )
            if i - start > _MAX_INSTRUCTION_LINES:
                raise DockerfileError(
                    f"line {start}: instruction spans more than {_MAX_INSTRUCTION_LINES} lines"
                )
            current = lines[i]
        parts.append(current)
        i += 1
        logical = "".join(parts).strip()
        word, _, args = logical.partition(" ")
        cmd = word.upper()
        args = args.strip()
        if cmd not in _KNOWN:
            issues.append(IacIssue("", f"unknown instruction {word!r}", start))
            continue
        ins = _Instruction(cmd, args, start)
        if cmd in _HEREDOC_CMDS and "<<" in args:
            for match in _HEREDOC.finditer(args):
                strip_tabs, name = match.group(1) == "-", match.group(3)
                body: list[str] = []
                while True:
                    if i >= len(lines):
                        raise DockerfileError(
                            f"line {start}: heredoc <<{name} never ends (no closing {name} line)"
                        )
                    text_line = lines[i].lstrip("\t") if strip_tabs else lines[i]
                    i += 1
                    if text_line == name:
                        break
                    body.append(text_line)
                ins.heredocs.append({"name": name, "body": "\n".join(body)})
        out.append(ins)
    return out, issues, escape


# --- variables -----------------------------------------------------------------------------------


def _expand(text: str, scope: Mapping[str, Any]) -> Any:
    """``$VAR``/``${VAR}``/``${VAR:-d}``/``${VAR:+a}`` substituted; UNKNOWN if a value is.

    A name never declared expands to ``""`` (as Docker does); an ``ARG`` without a default is
    UNKNOWN (its value comes from ``--build-arg`` at build time).
    """
    unknown = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unknown
        name = match.group(1) or match.group(4)
        op, word = match.group(2), match.group(3) or ""
        value = scope.get(name)
        if value is UNKNOWN:
            if op in (":-", "-"):
                return word  # a guess: the default is what builds without --build-arg get
            unknown = True
            return ""
        present = value is not None and (value != "" or op in ("-", "+"))
        if op in (":-", "-"):
            return str(value) if present else word
        if op in (":+", "+"):
            return word if present else ""
        return "" if value is None else str(value)

    result = _VAR.sub(replace, text)
    return UNKNOWN if unknown else result


# --- the normalised view -------------------------------------------------------------------------


@dataclass(slots=True)
class _View:
    """What the analysis accumulates while replaying instructions in build order."""

    scope: dict[str, Any] = field(default_factory=dict)
    env: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    user: Any = None
    user_line: int = 0
    healthcheck: str | None = None
    healthcheck_line: int = 0
    expose: list[str] = field(default_factory=list)
    run: list[dict[str, Any]] = field(default_factory=list)
    add: list[dict[str, Any]] = field(default_factory=list)

    def attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "User": "" if self.user is None else self.user,
            "RunsAsRoot": runs_as_root("" if self.user is None else self.user),
            "Env": self.env,
            "Args": self.args,
            "Expose": self.expose,
            "Run": self.run,
            "Add": self.add,
        }
        if self.healthcheck is not None:
            out["Healthcheck"] = self.healthcheck
        return out


def _name_once(names: list[str], name: str) -> None:
    if name and name not in names:
        names.append(name)


def _on_env(view: _View, ins: dict[str, Any]) -> None:
    for name, value in _assignments(ins["args"], legacy=True):
        _name_once(view.env, name)
        expanded = _expand(value, view.scope)
        view.scope[name] = expanded


def _on_arg(view: _View, ins: dict[str, Any]) -> None:
    for word in _words(ins["args"]):
        name, has_default, default = word.partition("=")
        _name_once(view.args, name)
        if name in view.scope and not has_default:
            continue  # a global ARG re-declared in the stage keeps its default
        view.scope[name] = _expand(default, view.scope) if has_default else UNKNOWN


def _on_user(view: _View, ins: dict[str, Any]) -> None:
    view.user = _expand(ins["args"].strip(), view.scope)
    view.user_line = ins.get("line", 0)


def _on_healthcheck(view: _View, ins: dict[str, Any]) -> None:
    _flags, rest = _split_flags(ins["args"])
    view.healthcheck = "NONE" if rest.strip().upper() == "NONE" else "present"
    view.healthcheck_line = ins.get("line", 0)


def _on_expose(view: _View, ins: dict[str, Any]) -> None:
    for word in _words(ins["args"]):
        value = _expand(word, view.scope)
        if value is UNKNOWN or not value:
            continue
        port, _, proto = str(value).partition("/")
        _name_once(view.expose, f"{port}/{(proto or 'tcp').lower()}")


def _command(ins: dict[str, Any]) -> tuple[list[str], str]:
    flags, rest = _split_flags(ins["args"])
    exec_form = _json_list(rest)
    command = " ".join(exec_form) if exec_form is not None else rest
    bodies = [h["body"] for h in ins.get("heredocs", [])]
    if bodies:  # ``RUN <<EOF`` runs the body: the marker itself is not part of the command
        command = "\n".join([_HEREDOC.sub("", command).strip(), *bodies]).strip()
    return flags, command


def _on_run(view: _View, ins: dict[str, Any]) -> None:
    flags, command = _command(ins)
    view.run.append({"command": command, "line": ins.get("line", 0), "flags": flags})


def _on_add(view: _View, ins: dict[str, Any]) -> None:
    flags, rest = _split_flags(ins["args"])
    words = _json_list(rest)
    if words is None:
        words = _words(rest)
    if len(words) < 2 and not ins.get("heredocs"):
        return
    sources, destination = words[:-1], words[-1] if words else ""
    expanded = [_expand(s, view.scope) for s in sources]
    known = [s for s in expanded if isinstance(s, str)]
    remote = any(_REMOTE.match(s) for s in known)
    archive = any(not _REMOTE.match(s) and s.lower().endswith(_ARCHIVE_SUFFIXES) for s in known)
    view.add.append(
        {
            "sources": [s if isinstance(s, str) else "(unknown)" for s in expanded],
            "destination": destination,
            "remote": UNKNOWN if len(known) < len(expanded) and not remote else remote,
            "archive": UNKNOWN if len(known) < len(expanded) and not archive else archive,
            "checksum": any(f.startswith("--checksum") for f in flags),
            "line": ins.get("line", 0),
        }
    )


_HANDLERS: Final[dict[str, Callable[[_View, dict[str, Any]], None]]] = {
    "ENV": _on_env,
    "ARG": _on_arg,
    "USER": _on_user,
    "HEALTHCHECK": _on_healthcheck,
    "EXPOSE": _on_expose,
    "RUN": _on_run,
    "ADD": _on_add,
}
"""Per instruction, how it changes the final image's view (instructions not listed do not)."""


def normalise(instructions: list[dict[str, Any]], scope: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The normalised attributes of the image ``instructions`` build (in build order)."""
    view = _View(scope=dict(scope or {}))
    for ins in instructions:
        handler = _HANDLERS.get(ins["cmd"])
        if handler is not None:
            handler(view, ins)
    return view.attributes()


def _stages(
    instructions: list[_Instruction], shown: str
) -> tuple[list[dict[str, Any]], dict[str, Any], list[IacIssue]]:
    """Stages with resolved bases, the global ARG scope, and issues (instructions before FROM)."""
    stages: list[dict[str, Any]] = []
    global_scope: dict[str, Any] = {}
    issues: list[IacIssue] = []
    names: dict[str, int] = {}
    for ins in instructions:
        if ins.cmd == "FROM":
            flags, rest = _split_flags(ins.args)
            words = rest.split()
            ref = _expand(words[0], global_scope) if words else ""
            alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else ""
            base: dict[str, Any]
            if isinstance(ref, str) and ref.lower() in names:
                base = {"image": ref, "tag": "", "digest": "", "stage": names[ref.lower()]}
            elif ref is UNKNOWN:
                base = {"image": UNKNOWN, "tag": UNKNOWN, "digest": UNKNOWN}
            else:
                base = dict(parse_image_ref(ref))
            stage = {"name": alias, "base": base, "line": ins.line, "instructions": [ins.to_json()]}
            if flags:
                stage["flags"] = flags
            if alias:
                names[alias.lower()] = len(stages)
            stages.append(stage)
        elif not stages:
            if ins.cmd == "ARG":
                _on_arg(_View(scope=global_scope), ins.to_json() | {"args": ins.args})
            else:
                issues.append(IacIssue(shown, f"{ins.cmd} before the first FROM", ins.line))
        else:
            stages[-1]["instructions"].append(ins.to_json() | {"_args": ins.args})
    return stages, global_scope, issues


def _chain(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The final stage and the stages it is built FROM, oldest first."""
    chain: list[dict[str, Any]] = []
    index: int | None = len(stages) - 1
    seen: set[int] = set()
    while index is not None and index not in seen:
        seen.add(index)
        stage = stages[index]
        chain.insert(0, stage)
        index = stage["base"].get("stage")
    return chain


def _dockerfile_resource(text: str, shown: str) -> IacResult:
    result = IacResult()
    try:
        instructions, issues, _escape = parse_dockerfile(text)
    except DockerfileError as exc:
        result.errors.append(IacIssue(shown, str(exc)))
        return result
    result.errors.extend(IacIssue(shown, i.message, i.line) for i in issues)
    stages, global_scope, issues = _stages(instructions, shown)
    result.errors.extend(issues)
    if not stages:
        result.errors.append(IacIssue(shown, "no FROM instruction; not a Dockerfile"))
        return result
    chain = _chain(stages)
    # The analysis sees real (unredacted) args; the stored instructions keep redacted ones.
    replay = [
        {**ins, "args": ins.get("_args", ins["args"])} for stage in chain for ins in stage["instructions"][1:]
    ]
    for stage in stages:
        stage["instructions"] = [
            {k: v for k, v in ins.items() if k != "_args"} for ins in stage["instructions"]
        ]
    scope = {k: v for k, v in global_scope.items()}
    attributes: dict[str, Any] = {"stages": stages}
    view_scope: dict[str, Any] = {}
    # Global ARGs are visible inside a stage only when re-declared there (``ARG NAME``).
    for ins in replay:
        if ins["cmd"] == "ARG":
            for word in _words(ins["args"]):
                name = word.partition("=")[0]
                if "=" not in word and name in scope:
                    view_scope.setdefault(name, scope[name])
    normal = normalise(replay, view_scope)
    normal["Args"] = [*[n for n in global_scope if n not in normal["Args"]], *normal["Args"]]
    attributes.update(normal)
    external = chain[0]["base"]
    attributes["BaseImage"] = {k: external[k] for k in ("image", "tag", "digest")}
    origins: dict[str, str] = {}
    for s, stage in enumerate(stages):
        origins[f"stages[{s}]"] = f"{shown}:{stage['line']}"
        for j, ins in enumerate(stage["instructions"]):
            origins[f"stages[{s}].instructions[{j}]"] = f"{shown}:{ins['line']}"
    origins["BaseImage"] = f"{shown}:{chain[0]['line']}"
    for key in ("Run", "Add"):
        for j, item in enumerate(attributes[key]):
            origins[f"{key}[{j}]"] = f"{shown}:{item['line']}"
    for key, cmd in (("User", "USER"), ("Healthcheck", "HEALTHCHECK"), ("Env", "ENV"), ("Expose", "EXPOSE")):
        lines = [ins["line"] for ins in replay if ins["cmd"] == cmd]
        if lines:
            origins[key] = f"{shown}:{lines[-1]}"
    result.resources.append(
        Resource(
            kind="docker.dockerfile",
            id=shown,
            name=shown,
            attributes=attributes,
            source="dockerfile",
            location=f"{shown}:{stages[0]['line']}",
            origins=origins,
        )
    )
    return result


# --- image configuration -------------------------------------------------------------------------

_NOP = "/bin/sh -c #(nop)"
_SHELLS: Final = ("/bin/sh -c ", "/bin/bash -c ", "cmd /S /C ", "sh -c ")
_BUILD_ARGS = re.compile(r"^\|(\d+)\s+")


def _strip_shell(command: str) -> str:
    for prefix in _SHELLS:
        if command.startswith(prefix):
            return command[len(prefix) :]
    return command


def _history_instruction(created_by: str) -> tuple[dict[str, Any] | None, list[str]]:
    """One history ``created_by`` line → (instruction, build-arg names it reveals).

    Forms: the classic builder (``/bin/sh -c #(nop)  USER app``, ``/bin/sh -c apt-get ...``,
    ``|2 A=1 B=2 /bin/sh -c ...``) and BuildKit (``RUN /bin/sh -c ... # buildkit``,
    ``ADD https://... /x # buildkit``). Lines written by other tools are ignored.
    """
    text = created_by.strip()
    if text.endswith("# buildkit"):
        text = text[: -len("# buildkit")].rstrip()
    cmd = ""
    if text.startswith(_NOP):
        word, _, args = text[len(_NOP) :].strip().partition(" ")
        cmd, args = word.upper(), args.strip()
    else:
        word, _, rest = text.partition(" ")
        if word.upper() in _KNOWN:
            cmd, args = word.upper(), rest.strip()
        elif _BUILD_ARGS.match(text) or text.startswith(_SHELLS):
            cmd, args = "RUN", text
        else:
            return None, []
    names: list[str] = []
    if cmd == "RUN":
        match = _BUILD_ARGS.match(args)
        if match:
            words = args[match.end() :].split(" ")
            count = int(match.group(1))
            names = [w.partition("=")[0] for w in words[:count]]
            args = " ".join(words[count:])
        args = _strip_shell(args)
    if cmd in ("ENV", "ARG"):  # values never kept
        names_only = [k for k, _v in _assignments(args, legacy=cmd == "ENV")]
        args = " ".join(names_only)
    if cmd == "ADD" and args.startswith(("file:", "dir:")):
        args = args.replace(" in ", " ", 1)  # ``ADD file:<hash> in /``: a local, already-hashed file
    return {"cmd": cmd, "args": args, "line": 0}, names


def _healthcheck(config: Mapping[str, Any]) -> str | None:
    check = config.get("Healthcheck")
    test = check.get("Test") if isinstance(check, Mapping) else None
    if not isinstance(test, list) or not test:
        return None
    return "NONE" if str(test[0]).upper() == "NONE" else "present"


def image_config_resource(artifact: ArtifactInfo | Mapping[str, Any], name: str = "") -> Resource:
    """The ``docker.image_config`` resource of an image: the Dockerfile attributes, from its config.

    ``artifact`` is the inventory's :class:`~yamori.model.artifact.ArtifactInfo` (``config`` is
    the image config's ``config`` section; history comes from the layers' ``created_by``) or a
    raw image config JSON (``{"config": {...}, "history": [...]}``), whose history also has the
    empty-layer entries (``ARG``, ``USER``...). The config is authoritative for ``User``, ``Env``,
    ``Healthcheck`` and ``Expose``; history gives ``Run``, ``Add`` and build ``Args``.
    """
    if isinstance(artifact, Mapping):
        raw_config = artifact.get("config")
        config: Mapping[str, Any] = raw_config if isinstance(raw_config, Mapping) else {}
        history_raw = artifact.get("history")
        history = [
            str(h.get("created_by", ""))
            for h in (history_raw if isinstance(history_raw, list) else [])
            if isinstance(h, Mapping)
        ]
        rid = name or str(artifact.get("name", "")) or "image"
    else:
        config = artifact.config
        history = [layer.created_by for layer in artifact.layers if layer.created_by]
        rid = name or artifact.name or artifact.image_id
    instructions: list[dict[str, Any]] = []
    build_args: list[str] = []
    for line in history:
        ins, names = _history_instruction(line)
        for n in names:
            _name_once(build_args, n)
        if ins is not None:
            instructions.append(ins)
    attributes: dict[str, Any] = {"instructions": instructions}
    attributes.update(normalise(instructions))
    for n in build_args:
        _name_once(attributes["Args"], n)
    user = config.get("User")
    attributes["User"] = user if isinstance(user, str) else ""
    attributes["RunsAsRoot"] = runs_as_root(attributes["User"])
    env = config.get("Env")
    attributes["Env"] = [str(e).partition("=")[0] for e in env] if isinstance(env, list) else []
    ports = config.get("ExposedPorts")
    attributes["Expose"] = sorted(str(p) for p in ports) if isinstance(ports, Mapping) else []
    health = _healthcheck(config)
    attributes.pop("Healthcheck", None)
    if health is not None:
        attributes["Healthcheck"] = health
    labels = config.get("Labels")
    base = labels.get("org.opencontainers.image.base.name") if isinstance(labels, Mapping) else None
    if isinstance(base, str) and base:
        attributes["BaseImage"] = parse_image_ref(base)
    return Resource(
        kind="docker.image_config",
        id=rid,
        name=rid,
        attributes=attributes,
        source="image",
        location=rid,
    )


# --- the adapter ---------------------------------------------------------------------------------


def _is_dockerfile_name(name: str) -> bool:
    lower = name.lower()
    if lower.endswith(".dockerignore"):
        return False
    for stem in ("dockerfile", "containerfile"):
        if lower == stem or lower.endswith(f".{stem}") or lower.startswith(f"{stem}."):
            return True
    return False


class DockerfileAdapter(IacAdapter):
    """``Dockerfile``, ``*.Dockerfile``, ``Dockerfile.*`` (and the ``Containerfile`` spellings)."""

    name: ClassVar[str] = "dockerfile"
    source: ClassVar[str] = "dockerfile"

    def claims(self, path: Path) -> bool:
        return _is_dockerfile_name(path.name) and (path.is_file() or path.is_symlink())

    def load(self, path: Path, options: IacOptions | None = None, *, root: Path | None = None) -> IacResult:
        options = options or IacOptions()
        root = root or path.parent
        shown = relative(path, root)
        text, issue = read_text(path, root, options.max_file_bytes)
        if issue is not None or text is None:
            result = IacResult()
            result.errors.append(issue or IacIssue(shown, "cannot read"))
            return result
        return _dockerfile_resource(text, shown)


ADAPTER: Final = DockerfileAdapter()
