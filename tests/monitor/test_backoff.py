"""Retry spacing and the transient/permanent split of Kafka failures (pure, no broker)."""

from __future__ import annotations

import random

import pytest
from kafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    ProducerFencedError,
    SaslAuthenticationFailedError,
    UnknownProducerIdError,
)

from driftwarden.monitor.checkpoint import CheckpointCorrupt
from driftwarden.monitor.errors import StartupError
from driftwarden.monitor.recovery import Backoff, transient


def test_delays_double_up_to_the_cap_within_their_jitter() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rand=random.Random(3).random)
    delays = [backoff.next() for _ in range(12)]
    steps = [min(30.0, 0.5 * 2**n) for n in range(12)]
    for delay, step in zip(delays, steps, strict=True):
        assert step / 2 <= delay <= step
    assert len(set(delays)) == len(delays)  # jittered, not in lock step
    assert max(delays) <= 30.0


def test_reset_starts_over_and_attempts_count_the_tries() -> None:
    backoff = Backoff(base=1.0, cap=4.0, rand=lambda: 0.0)
    assert [backoff.next() for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    assert backoff.attempts == 4
    backoff.reset()
    assert (backoff.next(), backoff.attempts) == (0.5, 1)


def test_a_long_outage_neither_overflows_nor_exceeds_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rand=lambda: 1.0)
    for _ in range(5000):
        assert backoff.next() <= 30.0


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 5.0)])
def test_bad_bounds_are_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="base"):
        Backoff(base=base, cap=cap)


def _caused(cause: BaseException) -> StartupError:
    try:
        raise StartupError("cannot reach Kafka") from cause
    except StartupError as exc:
        return exc


@pytest.mark.parametrize(
    "error",
    [
        KafkaConnectionError("refused"),
        KafkaTimeoutError("could not commit the transaction within 30s"),
        UnknownProducerIdError(),
        _caused(KafkaTimeoutError("Unable to bootstrap")),
    ],
)
def test_outages_are_transient(error: BaseException) -> None:
    assert transient(error)


@pytest.mark.parametrize(
    "error",
    [
        SaslAuthenticationFailedError(),
        ProducerFencedError(),
        StartupError("input topic(s) 'labels' do not exist"),
        _caused(SaslAuthenticationFailedError()),
        CheckpointCorrupt("monitor.ckpt is not an intact driftwarden checkpoint"),
        KeyError("a bug"),
    ],
)
def test_what_cannot_heal_is_not_retried(error: BaseException) -> None:
    assert not transient(error)
