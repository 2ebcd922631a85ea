"""Building blocks of the config models: strict frozen models, durations and secrets."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr

__all__ = ["Duration", "Strict", "parse_duration", "resolve_secret", "secret_values"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> float:
    """Seconds from ``"500ms"``, ``"5s"``, ``"30m"``, ``"1h"``, ``"7d"`` or a number.

    >>> parse_duration("1h"), parse_duration("500ms"), parse_duration(2)
    (3600.0, 0.5, 2.0)
    """
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '5s'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(f"invalid duration {value!r}: use e.g. '500ms', '5s', '1h', '7d'")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class Strict(BaseModel):
    """A config mapping: unknown keys rejected, frozen. A field's docstring is its description
    (``use_attribute_docstrings``), which docs/reference/configuration.md shows."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def resolve_secret(value: object) -> object:
    """``{env: NAME}`` or ``{file: PATH}`` become the variable's or file's content.

    >>> resolve_secret({"env": "PATH"}) == os.environ["PATH"], resolve_secret("plain")
    (True, 'plain')
    """
    if isinstance(value, dict) and set(value) == {"env"}:
        name = value["env"]
        if name not in os.environ:
            raise ValueError(f"environment variable {name!r} is not set")
        return os.environ[name]
    if isinstance(value, dict) and set(value) == {"file"}:
        try:
            return Path(value["file"]).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {value['file']!r}: {exc.strerror}") from exc
    return value


def secret_values(config: BaseModel) -> set[str]:
    """Every secret (:class:`~pydantic.SecretStr`) in a config model, revealed: what the logs
    must never show.

    >>> class Login(Strict):
    ...     password: SecretStr
    >>> secret_values(Login(password="pw"))
    {'pw'}
    """
    found: set[str] = set()
    _collect_secrets(config, found)
    return found


def _collect_secrets(value: object, found: set[str]) -> None:
    if isinstance(value, SecretStr):
        found.add(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect_secrets(getattr(value, name), found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_secrets(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_secrets(item, found)
