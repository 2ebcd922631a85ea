"""The retraining side's part of the shared YAML config: per-model training settings
(``models[].training``) and direct notifiers (``notifiers[]``)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

__all__ = [
    "DEFAULT_ESTIMATOR_PREFIXES",
    "FORBIDDEN_TYPE_MODULES",
    "EVENT_TYPES",
    "PAGERDUTY_EVENTS_URL",
    "EventType",
    "BasicAuthConfig",
    "FairnessGate",
    "GateConfig",
    "HttpConfig",
    "NotifierConfig",
    "Notifiers",
    "RiskTier",
    "SegmentGate",
    "TlsConfig",
    "TrainingConfig",
    "TrainingData",
    "estimator_path_problem",
    "resolve_secret",
    "secret_values",
    "type_name_problem",
]

DEFAULT_ESTIMATOR_PREFIXES = ("sklearn.",)
# Modules whose names a model file may never use, even if listed in ``trusted_types``: loading a
# skops file calls or instantiates the types it names, and these run commands, touch files,
# open connections, import code or reach any attribute.
FORBIDDEN_TYPE_MODULES = frozenset(
    {
        "builtins", "__builtin__", "os", "posix", "nt", "sys", "subprocess", "importlib",
        "runpy", "code", "codeop", "ctypes", "shutil", "pathlib", "io", "_io", "tempfile",
        "socket", "ssl", "pickle", "_pickle", "marshal", "shelve", "dbm", "multiprocessing",
        "threading", "_thread", "asyncio", "signal", "pty", "webbrowser", "urllib", "http",
        "ftplib", "smtplib", "operator", "functools", "types", "inspect", "gc", "pdb", "bdb",
        "timeit", "trace", "cProfile", "profile", "site", "sysconfig", "pkgutil", "zipimport",
        "glob", "fileinput", "sqlite3", "logging", "platform", "joblib", "cloudpickle", "dill",
    }
)  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskTier(StrEnum):
    LOW = "low"  # auto-promote
    MEDIUM = "medium"  # auto-promote and notify
    HIGH = "high"  # wait for a human approval


class TrainingData(_Strict):
    examples: int = Field(default=20_000, gt=0)  # last N joined examples from the examples topic
    base: str | None = None  # optional base table (CSV or Parquet) added to the examples
    label_column: str = "label"  # the base table's label column


class SegmentGate(_Strict):
    by: str  # a feature name
    max_drop: float = Field(default=0.05, ge=0)


class FairnessGate(_Strict):
    sensitive: str  # a feature name
    metric: Literal["equal_opportunity_difference", "demographic_parity_difference"] = (
        "equal_opportunity_difference"
    )
    max: float = Field(default=0.1, ge=0)


class GateConfig(_Strict):
    metric: str = "accuracy"
    min_improvement: float = 0.0
    guards: dict[str, float] = Field(default_factory=dict)  # metric -> largest allowed worsening
    segments: SegmentGate | None = None
    fairness: FairnessGate | None = None


class TrainingConfig(_Strict):
    estimator: str = "sklearn.ensemble.HistGradientBoostingClassifier"
    params: dict[str, Any] = Field(default_factory=dict)
    data: TrainingData = Field(default_factory=TrainingData)
    holdout: float = Field(default=0.2, gt=0, lt=1)
    seed: int = 0
    gate: GateConfig = Field(default_factory=GateConfig)
    risk_tier: RiskTier = RiskTier.LOW
    allowed_estimator_prefixes: tuple[str, ...] = DEFAULT_ESTIMATOR_PREFIXES
    # Exact type names (``package.module.Class``) a registered model file of this model may hold
    # beyond those of the configured estimator's pipeline (see driftwarden.retrain.artifact_types).
    trusted_types: tuple[str, ...] = ()
    # Most feature columns of a pipeline (rows x columns x 8 bytes: 20,000 x 5,000 is 800 MB).
    max_columns: int = Field(default=5000, gt=0)

    @field_validator("estimator")
    @classmethod
    def _import_path(cls, value: str) -> str:
        module = value.split(":", 1)[0]
        if not module or any(not part.isidentifier() for part in module.split(".")):
            raise ValueError(
                f"{value!r} is not an import path: use 'package.module.Class' or "
                "'package.module:factory'"
            )
        return value

    @field_validator("allowed_estimator_prefixes")
    @classmethod
    def _plus_default(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """The user's prefixes come in addition to the default ``sklearn.``."""
        return tuple(dict.fromkeys((*DEFAULT_ESTIMATOR_PREFIXES, *value)))

    @field_validator("trusted_types")
    @classmethod
    def _exact_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        problems = [problem for name in value if (problem := type_name_problem(name))]
        if problems:
            raise ValueError("; ".join(problems))
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _allowed_estimator(self) -> TrainingConfig:
        problem = estimator_path_problem(self.estimator, self.allowed_estimator_prefixes)
        if problem:
            raise ValueError(problem)
        return self


def estimator_path_problem(path: str, allowed_prefixes: Sequence[str]) -> str | None:
    """Why ``path`` may not be imported as an estimator, or None: it must start with an allowed
    prefix, name nothing private (no part starting with ``_``), and a factory
    (``module:function``), which runs with the config's ``params`` before anything can check
    what it is, must come from a prefix the user added, not from the default ``sklearn.``.

    >>> estimator_path_problem("sklearn.linear_model.Ridge", ("sklearn.",)) is None
    True
    >>> print(estimator_path_problem("sklearn._x.A", ("sklearn.",)))
    estimator 'sklearn._x.A' names something private ('_x'): use a public import path
    """
    prefixes = tuple(allowed_prefixes)
    if not path.startswith(prefixes):
        return (
            f"estimator {path!r} is outside the allowed module prefixes {list(prefixes)}; add "
            "its package to 'allowed_estimator_prefixes' to allow it"
        )
    private = next((p for p in path.replace(":", ".").split(".") if p.startswith("_")), None)
    if private is not None:
        return f"estimator {path!r} names something private ({private!r}): use a public import path"
    added = tuple(p for p in prefixes if p not in DEFAULT_ESTIMATOR_PREFIXES)
    if ":" in path and not path.startswith(added):
        return (
            f"estimator {path!r} is a factory under a default prefix: a factory runs with "
            "'params' before anything can check it, so it must come from a package you added to "
            "'allowed_estimator_prefixes'; for scikit-learn, name the estimator class"
        )
    return None


def type_name_problem(name: str) -> str | None:
    """Why ``name`` may not be trusted in a model file, or None: it must be one exact type
    (``package.module.Class``, no prefix or wildcard), name nothing special (no ``__`` part) and
    come from no module in :data:`FORBIDDEN_TYPE_MODULES`.

    >>> type_name_problem("sklearn.tree._tree.Tree") is None
    True
    >>> print(type_name_problem("builtins.exec"))
    type 'builtins.exec' is from module 'builtins', which a model file may never name
    >>> print(type_name_problem("mypackage."))
    type 'mypackage.' is not an exact type name: use 'package.module.Class', not a prefix
    """
    parts = name.split(".")
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        return f"type {name!r} is not an exact type name: use 'package.module.Class', not a prefix"
    if parts[0] in FORBIDDEN_TYPE_MODULES:
        return f"type {name!r} is from module {parts[0]!r}, which a model file may never name"
    special = next((part for part in parts if part.startswith("__")), None)
    if special is not None:
        return f"type {name!r} names something special ({special!r}): a model file may not"
    return None


PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
EventType = Literal[
    "drift_detected",
    "drift_resolved",
    "retrain_completed",
    "model_promoted",
    "approval_required",
    "model_rejected",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


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


class NotifierConfig(_Strict):
    """One direct notifier (``notifiers[]``): events sent without Alertmanager.

    ``url`` and ``routing_key`` may be given as ``{env: NAME}`` or ``{file: PATH}``; both are
    held as secrets (a Slack webhook URL is a credential) and masked when the config is shown.
    ``events`` and ``models`` left out mean every event type and every model.
    """

    name: str = Field(min_length=1)
    type: Literal["webhook", "slack", "pagerduty"]
    url: SecretStr | None = None  # pagerduty: PAGERDUTY_EVENTS_URL
    routing_key: SecretStr | None = None  # pagerduty only: the integration key
    events: list[EventType] | None = Field(default=None, min_length=1)
    models: list[str] | None = Field(default=None, min_length=1)
    rate_per_minute: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    timeout: float = Field(default=5.0, gt=0, le=120)  # seconds per HTTP request

    @field_validator("url", "routing_key", mode="before")
    @classmethod
    def _resolve(cls, value: object) -> object:
        return resolve_secret(value)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _fits_the_type(self) -> NotifierConfig:
        if self.type == "pagerduty" and not self.routing_key:
            raise ValueError("type 'pagerduty' needs 'routing_key' (the integration key)")
        if self.type != "pagerduty" and self.routing_key is not None:
            raise ValueError("'routing_key' applies only to type 'pagerduty'")
        if self.type != "pagerduty" and self.url is None:
            raise ValueError(f"type {self.type!r} needs 'url'")
        return self

    def endpoint(self) -> str:
        """The URL to post to, revealed."""
        return self.url.get_secret_value() if self.url is not None else PAGERDUTY_EVENTS_URL


def _unique_names(notifiers: list[NotifierConfig]) -> list[NotifierConfig]:
    names = [n.name for n in notifiers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"notifier names must be unique, repeated: {', '.join(duplicates)}")
    return notifiers


Notifiers = Annotated[list[NotifierConfig], AfterValidator(_unique_names)]


class TlsConfig(_Strict):
    """``http.tls``: serve HTTPS with this certificate; with ``client_ca_file``, also require
    client certificates signed by that CA (mutual TLS)."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    @field_validator("cert_file", "key_file", "client_ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                value.read_bytes()
            except OSError as exc:
                raise ValueError(f"cannot read {str(value)!r}: {exc.strerror}") from exc
        return value

    @model_validator(mode="after")
    def _loadable(self) -> TlsConfig:
        self.server_context()
        return self

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context (TLS 1.2 or newer) with the certificate and key loaded."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except ssl.SSLError as exc:
            raise ValueError(
                "cert_file and key_file are not a PEM certificate and its unencrypted private "
                f"key ({exc.reason or exc})"
            ) from None
        if self.client_ca_file is not None:
            try:
                context.load_verify_locations(cafile=self.client_ca_file)
            except ssl.SSLError as exc:
                raise ValueError(
                    f"client_ca_file is not a PEM CA certificate ({exc.reason or exc})"
                ) from None
            context.verify_mode = ssl.CERT_REQUIRED
        return context


class BasicAuthConfig(_Strict):
    """``http.basic_auth``: HTTP basic authentication for ``/metrics``.

    ``password`` is a secret: write it as ``{env: NAME}`` or ``{file: PATH}``.
    """

    username: str = Field(min_length=1)
    password: SecretStr

    @field_validator("username")
    @classmethod
    def _no_colon(cls, value: str) -> str:
        if ":" in value:
            raise ValueError("must not contain ':' (basic authentication separates on it)")
        return value

    @field_validator("password", mode="before")
    @classmethod
    def _resolve(cls, value: object) -> object:
        return resolve_secret(value)

    @field_validator("password")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value


class HttpConfig(_Strict):
    """``http`` (the monitor) and ``worker.http``: where ``/metrics``, ``/healthz`` and
    ``/readyz`` are served, and how they are protected."""

    host: str = "0.0.0.0"  # noqa: S104 - a service in a container listens on all interfaces
    port: int = Field(default=9108, ge=0, le=65535)
    tls: TlsConfig | None = None
    basic_auth: BasicAuthConfig | None = None
    # Connections open at once; more are closed as soon as they are accepted.
    max_connections: int = Field(default=512, gt=0)
    # Seconds from accepting a connection to the last byte of its response (TLS handshake and
    # request included): a client that is slower is disconnected.
    request_timeout: float = Field(default=10.0, gt=0)


def secret_values(config: BaseModel) -> set[str]:
    """Every secret (:class:`~pydantic.SecretStr`) in a config model, revealed: what the logs
    must never show.

    >>> secret_values(BasicAuthConfig(username="u", password="pw"))
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
