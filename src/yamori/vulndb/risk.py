"""yamori's risk score: one 0-100 number to sort vulnerability findings by "fix this first".

Severity alone ranks thousands of HIGH findings equally; exploit data and fix availability
separate the ones attackers use and the ones a user can act on today. The formula:

    risk = min(100, 100 * S * E * F * U), rounded to one decimal

* S, severity base (0-1): the CVSS base score / 10 when a score is known, else the severity
  label mapped to the middle of its CVSS band (CRITICAL 0.95, HIGH 0.8, MEDIUM 0.55,
  LOW 0.2, UNKNOWN 0.4 — unknown is not "harmless", so it sits between LOW and MEDIUM).
* E, exploit likelihood: p = 1.0 when CISA lists the CVE in KEV (exploited in the wild),
  else the EPSS probability (0 when FIRST has no score), and
  E = FLOOR + (1 - FLOOR) * p with FLOOR = 0.2 — the floor keeps a critical flaw without
  exploit data above a low flaw with a little, because EPSS underrates new CVEs. KEV entries
  used in ransomware campaigns get E * 1.2.
* F, fix availability: 1.0 when a fixed version exists (the finding is actionable now),
  0.85 when not fixed yet / unknown, 0.75 when the distro will not fix, deferred it or the
  release is end-of-life (the remedy is a different base image, a slower action).
* U, runtime use: 1.2 when the runtime sensor saw the package loaded, 0.5 when it watched and
  did not, 1.0 (neutral) when unknown — the default until the sensor exists, so today's
  rankings do not change when it arrives for unobserved workloads.

Maximum without clamping is 100 * 1 * 1.2 * 1 * 1.2 = 144, hence the clamp.
"""

from __future__ import annotations

from yamori.model.finding import Severity
from yamori.model.vulnerability import FixState

EXPLOIT_FLOOR = 0.2
RANSOMWARE_FACTOR = 1.2

_LABEL_BASE = {
    Severity.CRITICAL: 0.95,
    Severity.HIGH: 0.8,
    Severity.MEDIUM: 0.55,
    Severity.LOW: 0.2,
    Severity.UNKNOWN: 0.4,
}
_FIX_FACTOR = {
    FixState.FIXED: 1.0,
    FixState.NOT_FIXED: 0.85,
    FixState.UNKNOWN: 0.85,
    FixState.WONT_FIX: 0.75,
    FixState.FIX_DEFERRED: 0.75,
    FixState.END_OF_LIFE: 0.75,
}


def severity_base(score: float | None, severity: Severity) -> float:
    """S: the CVSS score scaled to 0-1, or the label's stand-in when no score is known."""
    if score is not None and score > 0:
        return min(score, 10.0) / 10.0
    return _LABEL_BASE[severity]


def exploit_likelihood(kev: bool, ransomware: bool, epss: float | None) -> float:
    """E: KEV is certainty of exploitation; otherwise EPSS's probability above a floor."""
    p = 1.0 if kev else max(0.0, min(epss or 0.0, 1.0))
    likelihood = EXPLOIT_FLOOR + (1.0 - EXPLOIT_FLOOR) * p
    if kev and ransomware:
        likelihood *= RANSOMWARE_FACTOR
    return likelihood


def fix_factor(state: FixState) -> float:
    """F: a finding with a fixed version available is the most actionable."""
    return _FIX_FACTOR[state]


def in_use_factor(in_use: bool | None) -> float:
    """U: loaded at runtime weighs more, proven unused less, unknown is neutral."""
    if in_use is None:
        return 1.0
    return 1.2 if in_use else 0.5


def risk_score(
    *,
    cvss_score: float | None,
    severity: Severity,
    kev: bool = False,
    ransomware: bool = False,
    epss: float | None = None,
    fix_state: FixState = FixState.UNKNOWN,
    in_use: bool | None = None,
) -> float:
    """The documented formula (module docstring), 0-100 with one decimal."""
    raw = (
        100.0
        * severity_base(cvss_score, severity)
        * exploit_likelihood(kev, ransomware, epss)
        * fix_factor(fix_state)
        * in_use_factor(in_use)
    )
    return round(max(0.0, min(raw, 100.0)), 1)
