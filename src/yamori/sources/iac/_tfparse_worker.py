"""Runs ``tfparse.load_from_path`` in a child process and hands its JSON back.

Why a separate process: tfparse is Go code loaded into the interpreter, and some inputs make it
panic (e.g. a ``dynamic`` block whose ``for_each`` is a number), which aborts the whole process.
A crash here costs one module evaluation, which then falls back to python-hcl2.

Why one process serves many modules: starting Python and loading the Go library costs about
0.1 s, more than evaluating a typical module, so a scan of 40 root modules spent most of its
time starting workers. ``--serve`` reads one request per line on stdin
(``{"dir": DIR, "vars": [VARFILE...]}``, var files relative to DIR) and writes one reply per
line (``{"data": {...}}`` or ``{"error": "first line"}``) until stdin closes. The parent keeps
the per-module timeout and replaces a worker that crashed or hung.

One-shot use, kept for debugging: ``python -m yamori.sources.iac._tfparse_worker DIR [VARFILE...]``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _evaluate(tfparse: Any, directory: str, var_files: list[str]) -> dict[str, Any]:
    try:
        data = tfparse.load_from_path(directory, stop_on_hcl_error=True, vars_paths=var_files)
    except tfparse.ParseError as exc:
        return {"error": str(exc).splitlines()[0] if str(exc) else "tfparse failed"}
    return {"data": data}


def serve() -> int:
    """Answer requests until stdin closes.

    The reply channel is a private copy of the original stdout; file descriptor 1 is pointed at
    stderr first, so anything the Go code prints cannot corrupt a reply.
    """
    import tfparse

    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        reply = _evaluate(tfparse, str(request["dir"]), [str(v) for v in request.get("vars", [])])
        replies.write(json.dumps(reply, separators=(",", ":")) + "\n")
        replies.flush()
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        return serve()
    import tfparse

    reply = _evaluate(tfparse, argv[0], argv[1:])
    if "error" in reply:
        print(reply["error"], file=sys.stderr)
        return 3
    json.dump(reply["data"], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
