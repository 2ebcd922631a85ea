"""How large a record the monitor produces, and how large an input value it applies.

Both follow from the output producer's ``max_request_size``: every output record (a dead letter
included, see :mod:`driftwarden.contracts.dead_letters`) must fit it, and an input value must
leave room in its dead letter for the headers the monitor adds.
"""

from __future__ import annotations

from driftwarden.config import MonitorConfig

__all__ = ["DEFAULT_MAX_REQUEST_SIZE", "input_limit", "output_limit"]

DEFAULT_MAX_REQUEST_SIZE = 1_048_576  # kafka-python's producer default
_BATCH_OVERHEAD = 512  # record batch header (61 bytes) and record varints, with room to spare
_INPUT_HEADROOM = 4096  # room left in an output record for the headers the monitor adds


def output_limit(config: MonitorConfig) -> int:
    """Largest output record (key + value + headers) to hand the producer."""
    size = config.kafka.client_options("producer").get("max_request_size")
    return int(size or DEFAULT_MAX_REQUEST_SIZE) - _BATCH_OVERHEAD


def input_limit(config: MonitorConfig) -> int:
    """Largest input value the monitor applies; larger ones are dead-lettered."""
    return output_limit(config) - _INPUT_HEADROOM
