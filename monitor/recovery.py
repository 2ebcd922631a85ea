"""Riding out Kafka outages: which failures heal by themselves, and how long to wait between tries.

After a broker outage the monitor recovers as it would after a crash: it drops the work since the
last checkpoint, recreates its clients and resumes from the checkpoint. :func:`transient` tells
such failures from those that no retry can fix (credentials, permissions, another instance with
the same transactional id, missing topics, a corrupt checkpoint), and :class:`Backoff` spaces the
retries.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator

from kafka.errors import (
    AuthorizationError,
    IllegalSaslStateError,
    InvalidProducerEpochError,
    KafkaError,
    ProducerFencedError,
    SaslAuthenticationFailedError,
    TransactionCoordinatorFencedError,
    UnsupportedSaslMechanismError,
    UnsupportedVersionError,
)
from prometheus_client.core import Metric

from driftwarden.core.metric_spec import counter_family
from driftwarden.monitor.errors import StartupError
from driftwarden.monitor.metrics import KAFKA_RECONNECTS

__all__ = ["Backoff", "ReconnectCounter", "fenced", "transient"]

_PERMANENT: tuple[type[KafkaError], ...] = (
    AuthorizationError,
    SaslAuthenticationFailedError,
    UnsupportedSaslMechanismError,
    IllegalSaslStateError,
    UnsupportedVersionError,
    ProducerFencedError,
)
_FENCED = (ProducerFencedError, InvalidProducerEpochError, TransactionCoordinatorFencedError)


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` may heal once Kafka is reachable again.

    Kafka client errors are transient unless they say the credentials, permissions or broker
    version are wrong or another producer took over the transactional id. A
    :class:`~driftwarden.monitor.errors.StartupError` is transient only when a transient Kafka
    error caused it
    (the broker is unreachable), not when topics are missing or badly partitioned.

    >>> from kafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
    >>> transient(KafkaConnectionError("connection refused"))
    True
    >>> transient(TopicAuthorizationFailedError())
    False
    >>> transient(StartupError("input topic(s) 'labels' do not exist"))
    False
    >>> try:
    ...     raise StartupError("cannot reach Kafka") from KafkaConnectionError("refused")
    ... except StartupError as exc:
    ...     transient(exc)
    True
    >>> transient(ValueError("a bug"))
    False
    """
    if isinstance(exc, StartupError):
        return exc.__cause__ is not None and transient(exc.__cause__)
    return isinstance(exc, KafkaError) and not isinstance(exc, _PERMANENT)


def fenced(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an error that caused it) says that a producer with the same
    transactional id took over.

    >>> fenced(ProducerFencedError())
    True
    >>> try:
    ...     raise KafkaError("transaction failed") from InvalidProducerEpochError()
    ... except KafkaError as exc:
    ...     fenced(exc)
    True
    >>> fenced(KafkaError("broker down"))
    False
    """
    seen: BaseException | None = exc
    for _ in range(10):  # bounded: a cause chain may loop
        if seen is None:
            return False
        if isinstance(seen, _FENCED):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Backoff:
    """Exponential delays, capped and jittered: try ``n`` waits between half and all of
    ``min(cap, base * 2**n)``, so instances that lost the same broker do not retry in step.

    >>> delays = Backoff(base=1.0, cap=8.0, rand=lambda: 1.0)
    >>> [delays.next() for _ in range(6)]
    [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    >>> delays.reset()
    >>> delays.next()
    1.0
    """

    def __init__(
        self, base: float = 0.5, cap: float = 30.0, rand: Callable[[], float] = random.random
    ) -> None:
        if not 0 < base <= cap:
            raise ValueError(f"need 0 < base <= cap, got base={base}, cap={cap}")
        self._base, self._cap, self._rand = base, cap, rand
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next try; at least half the exponential step, so never zero."""
        step = min(self._cap, self._base * 2 ** min(self.attempts, 32))
        self.attempts += 1
        return step / 2 + step / 2 * self._rand()

    def reset(self) -> None:
        """Back to the shortest delay, after a try that worked."""
        self.attempts = 0


class ReconnectCounter:
    """Collector of ``driftwarden_kafka_reconnects_total``: sessions restarted after a failure.

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> reconnects = ReconnectCounter()
    >>> registry.register(reconnects)
    >>> reconnects.inc()
    >>> registry.get_sample_value("driftwarden_kafka_reconnects_total")
    1.0
    """

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def inc(self) -> None:
        with self._lock:
            self._count += 1

    def collect(self) -> Iterator[Metric]:
        family = counter_family(KAFKA_RECONNECTS)
        family.add_metric([], float(self._count))
        yield family
