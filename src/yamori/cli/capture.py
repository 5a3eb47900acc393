"""`yamori capture list|show`: read back the sensor's capture files after the container is gone.

A capture (``data_dir()/captures/*.jsonl.zst``, written by ``yamori sensor``) holds the events
of one container around an alert. ``show`` answers the first forensic questions: which
processes ran and from what (``--tree``), which files they opened (``--files``), which network
calls they made (``--net``), and in what order everything happened (``--timeline``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import click

EXIT_INPUT_ERROR = 2
_NET = ("socket", "connect", "accept", "accept4", "bind", "listen", "sendto", "sendmsg", "recvfrom")


def _when(ns: Any) -> str:
    try:
        secs = int(ns) / 1e9
    except (TypeError, ValueError):
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(secs)) + f".{int(secs * 1000) % 1000:03d}Z"


@click.group()
def capture() -> None:
    """Forensic captures written by `yamori sensor` (list them, show one)."""


@capture.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_command(fmt: str) -> None:
    """Captures, newest first: id, time, container, image, rule."""
    from yamori.sensor.captures import capture_dir, list_captures

    items = list_captures()
    if fmt == "json":
        docs = [{**h, "path": str(p)} for p, h in items]
        click.echo(json.dumps(docs, indent=2))
        return
    if not items:
        click.echo(f"no captures in {capture_dir()}")
        return
    click.echo(f"{'ID':<48} {'TIME (UTC)':<24} {'CONTAINER':<20} {'IMAGE':<36} RULE")
    for path, h in items:
        c = h.get("container") or {}
        state = "" if path.name.endswith(".zst") else " (recording)"
        name = str(c.get("name") or str(c.get("id", "?"))[:12])
        image = str(c.get("image") or "<NA>")
        click.echo(
            f"{h.get('id', '?'):<48} {_when(h.get('created')):<24} {name:<20} "
            f"{image:<36} {h.get('rule')} [{h.get('priority')}]{state}"
        )


def _cmdline(doc: dict[str, Any]) -> str:
    return str(doc.get("cmdline") or doc.get("comm") or "?")


def _tree(events: list[dict[str, Any]]) -> list[str]:
    """Process tree from exec and fork events (pids seen only in other events are leaves)."""
    procs: dict[int, dict[str, Any]] = {}
    for e in events:
        pid = int(e.get("pid", 0))
        if e.get("type") in ("execve", "execveat"):
            entry = procs.setdefault(pid, {"ppid": int(e.get("ppid", 0)), "execs": []})
            entry["ppid"] = int(e.get("ppid", 0)) or entry["ppid"]
            mark = " [DRIFT, killed]" if e.get("killed") else (" [DRIFT]" if e.get("drift") else "")
            entry["execs"].append(f"{e.get('exe')}: {_cmdline(e)}{mark}")
        elif e.get("type") == "clone" and e.get("child"):
            child = int(e["child"])
            procs.setdefault(child, {"ppid": pid, "execs": []})
            procs.setdefault(pid, {"ppid": int(e.get("ppid", 0)), "execs": [], "comm": e.get("comm")})
        else:
            entry = procs.setdefault(pid, {"ppid": int(e.get("ppid", 0)), "execs": []})
            entry.setdefault("comm", e.get("comm"))
    children: dict[int, list[int]] = {}
    for pid, entry in procs.items():
        children.setdefault(entry["ppid"], []).append(pid)
    roots = sorted(pid for pid, entry in procs.items() if entry["ppid"] not in procs)
    lines: list[str] = []

    def walk(pid: int, depth: int, seen: set[int]) -> None:
        if pid in seen or len(lines) > 10_000:
            return
        seen.add(pid)
        entry = procs[pid]
        what = " -> ".join(entry["execs"]) or f"({entry.get('comm') or '?'})"
        lines.append(f"{'  ' * depth}{pid} {what}")
        for child in sorted(children.get(pid, [])):
            walk(child, depth + 1, seen)

    seen: set[int] = set()
    for root in roots:
        walk(root, 0, seen)
    return lines


def _files(events: list[dict[str, Any]]) -> list[str]:
    opens: Counter[tuple[str, str]] = Counter()
    for e in events:
        if e.get("type") in ("open", "openat", "openat2", "creat") and e.get("path"):
            opens[(str(e["path"]), str(e.get("comm") or "?"))] += 1
    return [f"{path}  ({comm}, {n}x)" for (path, comm), n in sorted(opens.items())]


def _net(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        if e.get("type") in _NET:
            args = " ".join(f"{k}={v}" for k, v in (e.get("args") or {}).items())
            out.append(
                f"{_when(e.get('ts'))} {e.get('comm')}({e.get('pid')}) {e['type']} {args} res={e.get('res')}"
            )
    return out


def _timeline(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        t = e.get("type")
        if t in ("execve", "execveat"):
            detail = f"{e.get('exe')}: {_cmdline(e)}"
        elif t == "clone":
            detail = f"child={e.get('child')}"
        elif t == "procexit":
            detail = ""
        else:
            detail = str(e.get("path") or " ".join(f"{k}={v}" for k, v in (e.get("args") or {}).items()))
            detail += f" res={e.get('res')}"
        out.append(f"{_when(e.get('ts'))} {e.get('comm') or '?'}({e.get('pid')}) {t} {detail}".rstrip())
    return out


@capture.command("show")
@click.argument("capture_id")
@click.option("--tree", "views", flag_value="tree", multiple=True, help="Process tree.")
@click.option("--files", "views", flag_value="files", multiple=True, help="Files opened.")
@click.option("--net", "views", flag_value="net", multiple=True, help="Network syscalls.")
@click.option("--timeline", "views", flag_value="timeline", multiple=True, help="Every event in order.")
def show_command(capture_id: str, views: tuple[str, ...]) -> None:
    """One capture: header and alerts, then the views asked for (default: tree and files)."""
    from yamori.sensor.captures import find_capture, read_capture

    path = find_capture(capture_id)
    if path is None:
        click.echo(f"yamori: error: no capture {capture_id!r} (see `yamori capture list`)", err=True)
        raise click.exceptions.Exit(EXIT_INPUT_ERROR)
    cap = read_capture(path)
    h = cap.header
    c = h.get("container") or {}
    click.echo(f"capture {h.get('id')}  ({path})")
    click.echo(f"container: {c.get('name')} id={str(c.get('id'))[:12]} image={c.get('image')}")
    click.echo(f"digest: {c.get('image_digest')}")
    click.echo(f"events: {len(cap.events)} ({h.get('buffered_events')} before the alert)")
    if cap.end is None:
        click.echo("(capture still recording or cut short: the sensor stopped before its end)")
    for alert in cap.alerts:
        click.echo(
            f"alert: {alert.get('time')} {alert.get('priority')} {alert.get('rule')}: {alert.get('output')}"
        )
    chosen = views or ("tree", "files")
    sections = {"tree": ("process tree", _tree), "files": ("files opened", _files),
                "net": ("network", _net), "timeline": ("timeline", _timeline)}  # fmt: skip
    for view in chosen:
        title, render = sections[view]
        click.echo(f"\n== {title}")
        lines = render(cap.events)
        for line in lines or ["(none)"]:
            click.echo(line)
