"""Publication dates from what real feeds carry, with a fallback that says it is one.

feedparser already parses RFC 822 (with its table of odd zone names), ISO 8601/W3DTF and a
dozen regional formats into UTC; dateutil takes what it leaves. Dates in the future or
absurdly old are not believed: the fetch time stands in and the reason is recorded.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime, timedelta

from dateutil import parser as dateutil_parser

# zone names seen in real feeds that neither parser knows, in hours from UTC
EXTRA_ZONES = {
    "HKT": 8,
    "SGT": 8,
    "JST": 9,
    "KST": 9,
    "IST": 5.5,
    "AEST": 10,
    "AEDT": 11,
    "ACST": 9.5,
    "AWST": 8,
    "NZST": 12,
    "NZDT": 13,
    "CET": 1,
    "CEST": 2,
    "MSK": 3,
    "BST": 1,
    "EET": 2,
    "EEST": 3,
    "WET": 0,
    "WEST": 1,
    "PHT": 8,
    "WIB": 7,
    "ICT": 7,
    "MYT": 8,
}
_TZINFOS = {k: int(v * 3600) for k, v in EXTRA_ZONES.items()}


def _from_struct(value: time.struct_time) -> datetime:
    return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)


_TRAILING_ZONE = re.compile(r"\b([A-Z]{2,5})\s*$")


def parse_date(raw: str | None, parsed: time.struct_time | None = None) -> datetime | None:
    """A UTC datetime from feedparser's parsed value or the raw string, else None.
    feedparser reads a zone name it does not know as UTC, so a date ending in one of
    ``EXTRA_ZONES`` is parsed here instead."""
    zone = _TRAILING_ZONE.search(raw or "")
    if zone and zone.group(1) in EXTRA_ZONES:
        parsed = None
    if parsed is not None:
        try:
            return _from_struct(parsed)
        except (OverflowError, ValueError):
            pass
    if not raw or not raw.strip():
        return None
    try:
        value = dateutil_parser.parse(raw.strip(), tzinfos=_TZINFOS, fuzzy=True)
    except (ValueError, OverflowError):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # an unzoned date is read as UTC
    return value.astimezone(UTC)


def published_date(
    raw: str | None,
    parsed: time.struct_time | None,
    fetched: datetime,
    *,
    max_future: timedelta,
    oldest_year: int,
) -> tuple[datetime, str]:
    """(published, provenance). Provenance is ``feed`` or ``fetched: <reason>``."""
    value = parse_date(raw, parsed)
    if value is None:
        why = "no date in entry" if not raw else f"unparseable date {raw!r}"
        return fetched, f"fetched: {why}"
    if value > fetched + max_future:
        return fetched, f"fetched: date in the future ({value.isoformat()})"
    if value.year < oldest_year:
        return fetched, f"fetched: implausibly old date ({value.isoformat()})"
    return value, "feed"
