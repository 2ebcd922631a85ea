"""The one timestamp formatter: epoch seconds to ISO-8601 UTC with a ``Z`` suffix.

Every record on a topic writes its times this way (microseconds when there are any); the audit
log writes milliseconds, always.

>>> format_timestamp(1795662000.5)
'2026-11-26T03:00:00.500000Z'
>>> format_timestamp(1795662000.0)
'2026-11-26T03:00:00Z'
>>> format_timestamp(1795662000.25, "milliseconds")
'2026-11-26T03:00:00.250Z'
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_timestamp"]


def format_timestamp(epoch_seconds: float, timespec: str = "auto") -> str:
    """ISO-8601 UTC with a ``Z`` suffix; ``timespec`` as for :meth:`datetime.isoformat`."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")
