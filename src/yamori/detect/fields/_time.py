"""RFC 3339 timestamps to epoch nanoseconds, keeping sub-second digits Python's datetime drops.

Kubernetes audit events carry microseconds (`2024-05-01T10:00:00.123456Z`) and CloudTrail carries
whole seconds; `jevt.rawtime` and alert times need exact nanoseconds, so the fraction is parsed by
hand instead of going through a float.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$"
)


def _fast_utc_ns(text: str) -> int | None:
    """The common shapes, ``2024-05-01T10:00:00Z`` and ``…:00.123456Z`` (audit events carry
    microseconds), through the C parser; None to fall back to the full grammar below."""
    n = len(text)
    if text[-1:] != "Z" or text[10:11] != "T" or not (n == 20 or (22 <= n <= 27 and text[19] == ".")):
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    whole = int(dt.replace(microsecond=0).timestamp())
    return whole * 1_000_000_000 + dt.microsecond * 1000


def parse_rfc3339_ns(text: str) -> int | None:
    """Epoch nanoseconds for an RFC 3339 timestamp (no offset means UTC), or None if malformed."""
    fast = _fast_utc_ns(text)
    if fast is not None:
        return fast
    m = _RFC3339.match(text) or _RFC3339.match(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, _z, sign, off_h, off_m = m.groups()
    try:
        dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError:
        return None
    secs = int(dt.timestamp())  # whole seconds: exact in a float for any real date
    if sign:
        offset = int(off_h) * 3600 + int(off_m) * 60
        secs = secs - offset if sign == "+" else secs + offset
    nanos = int(frac.ljust(9, "0")) if frac else 0
    return secs * 1_000_000_000 + nanos


def ns_to_clock(ns: int) -> str:
    """`HH:MM:SS.nnnnnnnnn` (UTC), the legacy `jevt.time` rendering."""
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}"


def ns_to_iso8601(ns: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC), as Falco prints `*.time.iso8601`."""
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"
