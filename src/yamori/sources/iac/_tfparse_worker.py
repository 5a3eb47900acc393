"""Runs ``tfparse.load_from_path`` in a child process and prints its JSON.

Why a separate process: tfparse is Go code loaded into the interpreter, and some inputs make it
panic (e.g. a ``dynamic`` block whose ``for_each`` is a number), which aborts the whole process.
A crash here costs one module evaluation, which then falls back to python-hcl2.
Usage: ``python -m yamori.sources.iac._tfparse_worker DIR [VARFILE...]`` (var files relative to DIR).
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    import tfparse

    try:
        data = tfparse.load_from_path(argv[0], stop_on_hcl_error=True, vars_paths=argv[1:])
    except tfparse.ParseError as exc:
        print(str(exc).splitlines()[0] if str(exc) else "tfparse failed", file=sys.stderr)
        return 3
    json.dump(data, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
