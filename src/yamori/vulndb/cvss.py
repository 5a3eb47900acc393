"""CVSS vectors to base scores, and scores to yamori severities.

OSV records carry CVSS as vectors (`severity[].score` = "CVSS:3.1/AV:N/…"), never as numbers,
so the matcher must score them itself to rank and to filter by severity.

* CVSS v3.0 / v3.1: the base-score equations of the FIRST specifications, written here (they
  are a dozen lines). The two versions differ only in `Roundup`: v3.0 rounds up with a plain
  ceiling on one decimal, which floating point can push a tenth too high (4.0000000001 → 4.1);
  v3.1 defines Roundup on an integer multiple of 1e-5 to make the result the same everywhere.
  Temporal and environmental metrics are ignored: OSV's scores are base scores.
* CVSS v4.0: scored through the `cvss` package. v4's base score is not a formula but a lookup
  of "macro vectors" in a table of 270 expert-assigned values, interpolated by severity
  distance; re-typing that table by hand would be copying, and the package reproduces the
  published examples (tests/vulndb/test_cvss.py).

Every function returns None on a malformed vector instead of raising: a bad vector in one
advisory must never stop a scan.
"""

from __future__ import annotations

import math
from typing import Literal

from yamori.model.finding import Severity

CvssVersion = Literal["3.0", "3.1", "4.0"]

_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_UNCHANGED = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_CHANGED = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62}
_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}
_V3_BASE = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")


def _metrics(vector: str) -> dict[str, str] | None:
    """`AV:N/AC:L/…` as a dict; None if a part is not `KEY:VALUE` or a key repeats."""
    metrics: dict[str, str] = {}
    for part in vector.split("/"):
        key, sep, value = part.partition(":")
        if not sep or not key or not value or key in metrics:
            return None
        metrics[key] = value
    return metrics


def _roundup_v31(value: float) -> float:
    """CVSS v3.1 Appendix A Roundup: smallest one-decimal number ≥ value, float-safe."""
    as_int = round(value * 100_000)
    if as_int % 10_000 == 0:
        return as_int / 100_000.0
    return (math.floor(as_int / 10_000) + 1) / 10.0


def _roundup_v30(value: float) -> float:
    """CVSS v3.0 Roundup, as that specification defines it (ceiling to one decimal)."""
    return math.ceil(value * 10) / 10


def cvss3_base_score(vector: str) -> float | None:
    """Base score of a "CVSS:3.0/…" or "CVSS:3.1/…" vector; None if malformed."""
    prefix, _, rest = vector.strip().partition("/")
    if prefix not in ("CVSS:3.0", "CVSS:3.1") or not rest:
        return None
    metrics = _metrics(rest)
    if metrics is None or any(key not in metrics for key in _V3_BASE):
        return None
    try:
        changed = {"U": False, "C": True}[metrics["S"]]
        av, ac, ui = _AV[metrics["AV"]], _AC[metrics["AC"]], _UI[metrics["UI"]]
        pr = (_PR_CHANGED if changed else _PR_UNCHANGED)[metrics["PR"]]
        c, i, a = _CIA[metrics["C"]], _CIA[metrics["I"]], _CIA[metrics["A"]]
    except KeyError:
        return None
    iss = 1 - (1 - c) * (1 - i) * (1 - a)
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    if impact <= 0:
        return 0.0
    exploitability = 8.22 * av * ac * pr * ui
    raw = 1.08 * (impact + exploitability) if changed else impact + exploitability
    roundup = _roundup_v31 if prefix == "CVSS:3.1" else _roundup_v30
    return roundup(min(raw, 10.0))


def cvss4_base_score(vector: str) -> float | None:
    """CVSS-B score of a "CVSS:4.0/…" vector (the `cvss` package's v4 algorithm); None if malformed."""
    text = vector.strip()
    if not text.startswith("CVSS:4.0/"):
        return None
    try:
        from cvss import CVSS4  # imported lazily: only advisories with v4 vectors need it
        from cvss.exceptions import CVSSError

        try:
            return float(CVSS4(text).base_score)
        except CVSSError:
            return None
    except (ValueError, KeyError, IndexError, TypeError, ZeroDivisionError):
        return None


def base_score(vector: str) -> tuple[CvssVersion, float] | None:
    """(version, base score) of a v3.0, v3.1 or v4.0 vector; None for other or malformed ones."""
    text = vector.strip()
    if text.startswith("CVSS:4.0/"):
        score = cvss4_base_score(text)
        return None if score is None else ("4.0", score)
    if text.startswith(("CVSS:3.0/", "CVSS:3.1/")):
        score = cvss3_base_score(text)
        version: CvssVersion = "3.1" if text.startswith("CVSS:3.1/") else "3.0"
        return None if score is None else (version, score)
    return None


def severity_from_score(score: float | None) -> Severity:
    """The qualitative rating of the CVSS specifications (None/0.0 → UNKNOWN, for "none")."""
    if score is None or score <= 0:
        return Severity.UNKNOWN
    if score < 4.0:
        return Severity.LOW
    if score < 7.0:
        return Severity.MEDIUM
    if score < 9.0:
        return Severity.HIGH
    return Severity.CRITICAL
