"""The YAML configuration of both services, validated at start-up.

Every error names the key path (``models.0.label_ttl``) and what is wrong with it; secrets
(``kafka.client`` passwords, keys, webhook URLs) are held as :class:`~pydantic.SecretStr` and
masked when the config is shown. Building blocks shared with the services' components (durations,
secrets, HTTP and notifier settings) live in :mod:`driftwarden.core`.
"""

from __future__ import annotations

from driftwarden.config.kafka import KafkaConfig
from driftwarden.config.loading import load_config, masked_dict, parse_config
from driftwarden.config.model import ModelConfig
from driftwarden.config.service import MonitorConfig, WorkerConfig
from driftwarden.config.training import TrainingConfig
from driftwarden.core.errors import ConfigError

__all__ = [
    "ConfigError",
    "KafkaConfig",
    "ModelConfig",
    "MonitorConfig",
    "TrainingConfig",
    "WorkerConfig",
    "load_config",
    "masked_dict",
    "parse_config",
]
