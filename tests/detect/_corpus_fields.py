"""Field names a corpus rules file references (conditions, exception fields, `%field` outputs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from yamori.detect.condition import parse_condition, referenced_names

CORPUS = Path("/work/shared/corpora/falco-rules")
_OUTPUT_FIELD = re.compile(r"%([A-Za-z_][A-Za-z0-9_.]*)")


def corpus_fields(filename: str) -> set[str]:
    items: list[dict[str, Any]] = yaml.safe_load((CORPUS / filename).read_text()) or []
    names: set[str] = set()
    for item in items:
        cond = item.get("condition")
        if isinstance(cond, str):
            names |= referenced_names(parse_condition(cond))[2]
        out = item.get("output")
        if isinstance(out, str):
            names |= set(_OUTPUT_FIELD.findall(out))
        for exc in item.get("exceptions") or []:
            flds = exc.get("fields")
            names |= set(flds) if isinstance(flds, list) else {flds} if flds else set()
    # evt.* are engine fields common to every source, not the plugin's.
    return {n for n in names if not n.startswith("evt.")}
