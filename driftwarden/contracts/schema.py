"""The schema version every record on a topic carries, and the event-time range they accept.

Version 1 covers all of them: predictions and labels (where ``schema`` may be left out), joined
examples, drift events, retrain requests and the retrain worker's events. A reader rejects any
other version; a change to the bytes of one record type means a new version.
"""

from __future__ import annotations

__all__ = ["EARLIEST_TIMESTAMP", "LATEST_TIMESTAMP", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1

# Event time must fit what the outputs can write (ISO-8601, years 1970-5138): no earlier than
# the Unix epoch, no later than 1e11 epoch seconds, the bound that also rejects milliseconds.
EARLIEST_TIMESTAMP = 0.0
LATEST_TIMESTAMP = 1e11
