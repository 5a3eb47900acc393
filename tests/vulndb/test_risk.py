"""The risk formula's documented properties (yamori.vulndb.risk)."""

from __future__ import annotations

from yamori.model.finding import Severity
from yamori.model.vulnerability import FixState
from yamori.vulndb.risk import risk_score


def test_kev_outranks_high_epss_and_ransomware_outranks_kev() -> None:
    kev = risk_score(cvss_score=7.5, severity=Severity.HIGH, kev=True, fix_state=FixState.FIXED)
    epss = risk_score(cvss_score=7.5, severity=Severity.HIGH, epss=0.5, fix_state=FixState.FIXED)
    ransom = risk_score(
        cvss_score=7.5, severity=Severity.HIGH, kev=True, ransomware=True, fix_state=FixState.FIXED
    )
    assert ransom > kev > epss
    assert kev == 75.0  # 100 * 0.75 * 1.0 * 1.0 * 1.0


def test_floor_keeps_critical_without_exploit_data_above_low_with_some() -> None:
    critical = risk_score(cvss_score=9.8, severity=Severity.CRITICAL)
    low = risk_score(cvss_score=3.1, severity=Severity.LOW, epss=0.1)
    assert critical > low > 0


def test_fix_availability_and_in_use() -> None:
    fixed = risk_score(cvss_score=7.5, severity=Severity.HIGH, fix_state=FixState.FIXED)
    unfixed = risk_score(cvss_score=7.5, severity=Severity.HIGH, fix_state=FixState.NOT_FIXED)
    wont = risk_score(cvss_score=7.5, severity=Severity.HIGH, fix_state=FixState.WONT_FIX)
    assert fixed > unfixed > wont
    neutral = risk_score(cvss_score=7.5, severity=Severity.HIGH, in_use=None)
    used = risk_score(cvss_score=7.5, severity=Severity.HIGH, in_use=True)
    unused = risk_score(cvss_score=7.5, severity=Severity.HIGH, in_use=False)
    assert used > neutral > unused


def test_label_when_no_score_and_bounds() -> None:
    assert risk_score(cvss_score=None, severity=Severity.CRITICAL) > risk_score(
        cvss_score=None, severity=Severity.MEDIUM
    )
    top = risk_score(
        cvss_score=10.0,
        severity=Severity.CRITICAL,
        kev=True,
        ransomware=True,
        fix_state=FixState.FIXED,
        in_use=True,
    )
    assert top == 100.0
    assert risk_score(cvss_score=0.0, severity=Severity.UNKNOWN) >= 0.0
