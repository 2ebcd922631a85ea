"""Which reference profile a model version is checked against.

The registry's profile of that exact version when it has one (every version the retrain side
registers carries the profile of its training data), else the model's configured ``reference``.
The registry comes in as a :class:`~driftwarden.core.registry.ProfileLookup`: the command line
passes whichever backend the config names.

The registry is asked once per version, when the version is first seen, and its answer is kept
(a profile, or "has none"). A lookup runs on a worker thread and the loop waits for it at most
``deadline_s``: a registry that fails or does not answer in time is counted
(``driftwarden_profile_lookup_failures_total{model}``) and logged, the version is checked against
the configured ``reference`` meanwhile, and the registry is not asked again before an exponential,
capped backoff has passed. :meth:`ProfileSource.retry` (called by the loop) asks again for those
versions; it returns the versions that now have a registered profile, whose drift checks the
processor rebuilds from it (:meth:`~driftwarden.monitor.processor.StreamProcessor.reprofile`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from pathlib import Path
from typing import Any

from prometheus_client.core import Metric

from driftwarden.config import MonitorConfig
from driftwarden.core.errors import ConfigError, DriftwardenError, ProfileError
from driftwarden.core.keys import ModelVersion
from driftwarden.core.metric_spec import counter_family
from driftwarden.core.profile import ReferenceProfile
from driftwarden.core.profile_json import load_profile, profile_from_dict
from driftwarden.core.registry import ProfileLookup
from driftwarden.monitor.metrics import PROFILE_LOOKUP_FAILURES
from driftwarden.monitor.recovery import Backoff

__all__ = ["DEFAULT_DEADLINE_S", "LookupFailures", "ProfileSource"]

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 5.0
_BACKOFF_BASE_S = 1.0
_BACKOFF_CAP_S = 300.0
# Versions remembered; a flood of made-up versions cannot grow the cache without bound.
_CACHE_SIZE = 10_000

Document = dict[str, Any] | None


class LookupFailures:
    """Collector of ``driftwarden_profile_lookup_failures_total{model}``: lookups of a version's
    registered profile that failed (registry unreachable, too slow, or its profile unusable).

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> failures = LookupFailures(["churn"])
    >>> registry.register(failures)
    >>> registry.get_sample_value("driftwarden_profile_lookup_failures_total", {"model": "churn"})
    0.0
    """

    def __init__(self, models: Iterable[str] = ()) -> None:
        self._counts: Counter[str] = Counter(dict.fromkeys(models, 0))
        self._lock = threading.Lock()

    def inc(self, model: str) -> None:
        with self._lock:
            self._counts[model] += 1

    def collect(self) -> Iterator[Metric]:
        family = counter_family(PROFILE_LOOKUP_FAILURES)
        with self._lock:
            for model, count in sorted(self._counts.items()):
                family.add_metric([model], float(count))
        yield family


class _Lookup:
    """The lookup under way: its version, its answer to come, whether it counted as failed."""

    __slots__ = ("counted", "future", "key")

    def __init__(self, key: tuple[str, str], future: Future[Document]) -> None:
        self.key, self.future, self.counted = key, future, False


class ProfileSource:
    """The reference profile of a (model, version); see the module docstring.

    ``clock`` (monotonic seconds) and ``backoff`` are injected for tests. Only the loop's thread
    calls it; the lookups run on one worker thread, one at a time.
    """

    def __init__(
        self,
        configured: dict[str, ReferenceProfile],
        registry: ProfileLookup | None,
        *,
        failures: LookupFailures | None = None,
        deadline_s: float = DEFAULT_DEADLINE_S,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
        cache_size: int = _CACHE_SIZE,
    ) -> None:
        self._configured = configured
        self._registry = registry
        self._failures = failures or LookupFailures()
        self._deadline = deadline_s
        self._clock = clock
        self._backoff = backoff or Backoff(_BACKOFF_BASE_S, _BACKOFF_CAP_S)
        self._cache_size = cache_size
        # version -> its registered profile, None for none (yet: see _waiting); least recent first
        self._entries: OrderedDict[tuple[str, str], ReferenceProfile | None] = OrderedDict()
        self._waiting: dict[tuple[str, str], None] = {}  # not settled yet, oldest first
        self._retry_at = -math.inf
        self._lookup: _Lookup | None = None
        self._executor: ThreadPoolExecutor | None = None

    @classmethod
    def from_config(
        cls,
        config: MonitorConfig,
        registry: ProfileLookup | None,
        failures: LookupFailures | None = None,
    ) -> ProfileSource:
        """Load every configured ``reference`` now: a bad file is a config error at start-up."""
        configured = {}
        for index, model in enumerate(config.models):
            if model.reference is None:
                continue
            try:
                configured[model.name] = load_profile(Path(model.reference))
            except ProfileError as exc:
                raise ConfigError(f"models.{index}.reference: {exc}") from exc
        return cls(configured, registry, failures=failures)

    def __call__(self, model: str, version: str) -> ReferenceProfile | None:
        """The registered profile of the version, else the configured one; the first call for a
        version asks the registry (waiting at most ``deadline_s``)."""
        key = (model, version)
        if key in self._entries:
            self._entries.move_to_end(key)
        else:
            self._admit(key)
            if self._registry is not None:
                self._waiting[key] = None
                if self._lookup is None and self._clock() >= self._retry_at:
                    self._ask(key)
        registered = self._entries.get(key)
        return registered if registered is not None else self._configured.get(model)

    def retry(self) -> list[ModelVersion]:
        """Collect a lookup that finished late, or, once the backoff has passed, ask again for
        the version waiting longest; return the versions that now have a registered profile, to
        be checked against it from now on."""
        if self._lookup is not None:
            key = self._lookup.key
            self._collect(wait=0.0)
        elif self._waiting and self._clock() >= self._retry_at:
            key = next(iter(self._waiting))
            self._ask(key)
        else:
            return []
        if self._entries.get(key) is None:
            return []
        log.info("model %s version %s: now checked against its registered profile", *key)
        return [ModelVersion(*key)]

    def close(self) -> None:
        """Stop the worker thread; a lookup under way is left to finish on its own."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _admit(self, key: tuple[str, str]) -> None:
        self._entries[key] = None
        while len(self._entries) > self._cache_size:
            evicted, _ = self._entries.popitem(last=False)
            self._waiting.pop(evicted, None)

    def _ask(self, key: tuple[str, str]) -> None:
        """Start the lookup of ``key`` and wait for it at most the deadline."""
        assert self._registry is not None  # noqa: S101 - only called with a registry
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="profile-lookup")
        self._lookup = _Lookup(key, self._executor.submit(self._registry.profile, *key))
        self._collect(wait=self._deadline)

    def _collect(self, wait: float) -> None:
        """Take the lookup's answer if it comes within ``wait`` seconds. Too late counts as a
        failure (once), and the answer is taken when it comes."""
        lookup = self._lookup
        assert lookup is not None  # noqa: S101 - only called with a lookup under way
        done, _ = wait_for([lookup.future], timeout=wait)
        if not done:
            if wait > 0:
                self._failed(lookup, f"no answer within {self._deadline:g}s", transient=True)
            return
        self._lookup = None
        error = lookup.future.exception()
        if error is None:
            self._backoff.reset()
            self._settle(lookup.key, self._parse(lookup, lookup.future.result()))
        elif isinstance(error, ValueError):  # the registered profile is unusable for good
            self._failed(lookup, str(error), transient=False)
            self._settle(lookup.key, None)
        elif isinstance(error, LookupError):  # the registry does not know the version
            self._settle(lookup.key, None)
        elif isinstance(error, DriftwardenError | OSError):
            self._failed(lookup, f"{type(error).__name__}: {error}", transient=True)
        else:
            raise error  # a bug, not the registry's state

    def _parse(self, lookup: _Lookup, document: Document) -> ReferenceProfile | None:
        if document is None:
            return None
        model, version = lookup.key
        try:
            return profile_from_dict(
                document, source=f"the registry's profile of {model} {version}"
            )
        except ProfileError as exc:
            self._failed(lookup, str(exc), transient=False)
            return None

    def _settle(self, key: tuple[str, str], profile: ReferenceProfile | None) -> None:
        if key in self._waiting:  # else evicted from the cache meanwhile
            del self._waiting[key]
            self._entries[key] = profile

    def _failed(self, lookup: _Lookup, reason: str, *, transient: bool) -> None:
        model, version = lookup.key
        if not lookup.counted:
            self._failures.inc(model)
            lookup.counted = True
        fallback = "its configured reference" if model in self._configured else "no reference"
        if transient:
            delay = self._backoff.next()
            self._retry_at = self._clock() + delay
            log.error(
                "model %s version %s: cannot read its reference profile from the registry (%s); "
                "check that the registry is up and reachable from the monitor and its "
                "credentials; checking against %s meanwhile, asking again in %.0fs",
                model,
                version,
                reason,
                fallback,
                delay,
            )
        else:
            log.error(
                "model %s version %s: the registry's reference profile is unusable (%s); "
                "register the version again with a valid profile; checking against %s",
                model,
                version,
                reason,
                fallback,
            )
