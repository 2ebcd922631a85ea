"""Logging set-up: plain text or one JSON object per line, secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

import orjson

__all__ = ["MASK", "RedactSecrets", "configure_logging"]

MASK = "**********"
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words and numbers


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:  # set, and redacted, by RedactSecrets
            doc["exception"] = record.exc_text
        elif record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


class RedactSecrets(logging.Filter):
    """Replaces every known secret value in a record's message and traceback by ``MASK``.

    A safety net for records that third-party code builds from the config (kafka-python logs
    its whole configuration at DEBUG), installed on the handler so that it sees the records of
    every logger.

    >>> record = logging.LogRecord("kafka", logging.DEBUG, "", 0, "config: %s", None, None)
    >>> record.args = ({"sasl_plain_password": "hunter22"},)
    >>> RedactSecrets(["hunter22"]).filter(record), record.getMessage()
    (True, "config: {'sasl_plain_password': '**********'}")
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        forms = set()
        for secret in secrets:
            if len(secret) >= _MIN_SECRET_LENGTH:
                forms.update({secret, repr(secret)[1:-1], orjson.dumps(secret).decode()[1:-1]})
        self._secrets = sorted(forms, key=len, reverse=True)  # longest first: no partial masks

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-arguments: the handler reports it when emitting
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def configure_logging(
    level: str = "INFO", json_format: bool = False, secrets: Iterable[str] = ()
) -> None:
    """Log to stderr at ``level``; ``secrets`` (values from the config) never appear."""
    handler = logging.StreamHandler(sys.stderr)
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("kafka").setLevel(max(logging.getLevelName(level), logging.WARNING))
