"""RFC 3339 timestamps to epoch nanoseconds, keeping sub-second digits Python's datetime drops.

Kubernetes audit events carry microseconds (`2024-05-01T10:00:00.123456Z`) and CloudTrail carries
whole seconds; `jevt.rawtime` and alert times need exact nanoseconds, so the fraction is parsed by
hand instead of going through a float.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$"
)


def parse_rfc3339_ns(text: str) -> int | None:
    """Epoch nanoseconds for an RFC 3339 timestamp (no offset means UTC), or None if malformed."""
    m = _RFC3339.match(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    try:
        dt = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    if m.group(9):
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        dt = dt - offset if m.group(9) == "+" else dt + offset
    frac = (m.group(7) or "").ljust(9, "0")
    secs = int((dt - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    return secs * 1_000_000_000 + int(frac or "0")


def ns_to_clock(ns: int) -> str:
    """`HH:MM:SS.nnnnnnnnn` (UTC), the legacy `jevt.time` rendering."""
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}"


def ns_to_iso8601(ns: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC), as Falco prints `*.time.iso8601`."""
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"
