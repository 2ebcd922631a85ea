"""Reading and validating the YAML file: every error names the key path (``models.0.label_ttl``)
and what is wrong with it; secrets are masked whenever the config is shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from driftwarden.config.service import MonitorConfig
from driftwarden.core.errors import ConfigError

__all__ = ["load_config", "masked_dict", "parse_config"]


def load_config(path: str | Path) -> MonitorConfig:
    """Read and validate a YAML file; raise :class:`ConfigError` naming every bad key."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {_yaml_problem(exc)}") from None
    return parse_config(data, source=str(path))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found wrong and where, without its copy of the offending line (which may
    hold a secret)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return type(exc).__name__
    parts = []
    for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark)):
        if text:
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            parts.append(f"{text}{where}")
    return "; ".join(parts) or "malformed YAML"


def parse_config(data: object, source: str = "config") -> MonitorConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    try:
        return MonitorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: {exc.error_count()} invalid setting(s)"]
    for error in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in error["loc"] if not _is_tag(part)) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {path}: {message}")
    return "\n".join(lines)


def _is_tag(part: object) -> bool:
    return isinstance(part, str) and part.startswith("function-")


def masked_dict(config: MonitorConfig) -> dict[str, Any]:
    """The normalized config as plain data, secrets replaced by ``'**********'``."""
    return config.model_dump(mode="json", by_alias=True)
