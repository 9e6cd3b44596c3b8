"""Times on the pages: the user's time zone, "end of the chosen day", and relative phrases.

The zone is the browser's: ``static/time-zone.js`` fills every hidden ``time_zone`` field with
``Intl.DateTimeFormat().resolvedOptions().timeZone`` (an IANA name, so daylight-saving changes
between today and the chosen day are right, which a bare UTC offset would not be). The login
form and every form with a date send it; the pages keep the last one in the session. Without
JavaScript, or with a name Python does not know, the zone is UTC.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

SESSION_KEY = "time_zone"
MAX_ZONE_NAME = 64


def zone_named(name) -> ZoneInfo | None:
    """The zone called ``name``, or ``None`` for a blank, unknown or malformed name."""
    if not isinstance(name, str) or not name or len(name) > MAX_ZONE_NAME:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def user_zone(request) -> ZoneInfo:
    """The zone the pages last heard from this user's browser; UTC before that."""
    return zone_named(request.session.get(SESSION_KEY)) or ZoneInfo("UTC")


def zone_remember(request, name) -> ZoneInfo:
    """Keep ``name`` as the user's zone if it is a real one; return the zone now in force."""
    zone = zone_named(name)
    if zone is not None and request.session.get(SESSION_KEY) != zone.key:
        request.session[SESSION_KEY] = zone.key
    return zone or user_zone(request)


def today_in(zone: ZoneInfo) -> date:
    return timezone.now().astimezone(zone).date()


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The instant ``day`` ends in ``zone`` (midnight starting the next day), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)


def chosen_day(expires_at: datetime, zone: ZoneInfo) -> date:
    """The day a person chose for ``expires_at``: the day in ``zone`` whose end it is."""
    return (expires_at.astimezone(zone) - timedelta(microseconds=1)).date()


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"


def relative(value: datetime, now: datetime | None = None) -> str:
    """``"in 29 days"``, ``"3 minutes ago"``, ``"just now"``: one unit, rounded down."""
    now = now or timezone.now()
    seconds = int((value - now).total_seconds())
    future, seconds = seconds > 0, abs(seconds)
    if seconds < 60:
        return "in under a minute" if future else "just now"
    for size, unit in ((365 * 86400, "year"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if unit == "year" and seconds < 2 * 365 * 86400:
            continue  # "in 400 days" reads better than "in 1 year"
        if seconds >= size:
            phrase = _count(seconds // size, unit)
            return f"in {phrase}" if future else f"{phrase} ago"
    raise AssertionError("unreachable")  # pragma: no cover
