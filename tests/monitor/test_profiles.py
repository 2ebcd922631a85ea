"""ProfileSource: the registry's answers are kept, a failing or slow registry falls back to the
configured reference and is asked again after a backoff, and a late answer switches the version's
drift checks to the registered profile. Pure logic: the registry is a fake ProfileLookup."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from driftwarden.core.errors import ProfileError, RegistryUnavailable
from driftwarden.core.keys import ModelVersion
from driftwarden.core.profile import ReferenceProfile, build_profile
from driftwarden.monitor.exporter import DriftSnapshot
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.profiles import LookupFailures, ProfileSource
from driftwarden.monitor.recovery import Backoff
from driftwarden.monitor.state import MonitorState
from tests.monitor.harness import Record
from tests.monitor.test_bounded import MODEL, PREDICTIONS, config, prediction

FAILURES = "driftwarden_profile_lookup_failures_total"


class FakeRegistry:
    """Answers from ``documents``; raises ``error`` while it is set; waits for ``gate``."""

    def __init__(self, documents: dict[tuple[str, str], dict[str, Any]] | None = None) -> None:
        self.documents = documents or {}
        self.error: Exception | None = None
        self.gate: threading.Event | None = None
        self.calls: list[tuple[str, str]] = []

    def profile(self, model: str, version: str) -> dict[str, Any] | None:
        self.calls.append((model, version))
        if self.gate is not None:
            self.gate.wait(10)
        if self.error is not None:
            raise self.error
        return self.documents.get((model, version))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def profile(rows: int = 100) -> ReferenceProfile:
    return build_profile(MODEL, {"tenure": [float(i % 40) for i in range(rows)]})


@pytest.fixture
def clock() -> Clock:
    return Clock()


def source(
    registry: FakeRegistry,
    clock: Clock,
    configured: ReferenceProfile | None = None,
    **options: Any,
) -> tuple[ProfileSource, CollectorRegistry]:
    metrics = CollectorRegistry()
    failures = LookupFailures([MODEL])
    metrics.register(failures)
    profiles = ProfileSource(
        {} if configured is None else {MODEL: configured},
        registry,
        failures=failures,
        clock=clock,
        backoff=Backoff(base=1.0, cap=8.0, rand=lambda: 1.0),
        **options,
    )
    return profiles, metrics


def failures(metrics: CollectorRegistry) -> float | None:
    return metrics.get_sample_value(FAILURES, {"model": MODEL})


def test_answers_are_kept_per_version_including_none(clock: Clock) -> None:
    registered, configured = profile(100), profile(200)
    registry = FakeRegistry({(MODEL, "1"): registered.to_dict()})
    profiles, metrics = source(registry, clock, configured)
    for _ in range(3):
        assert profiles(MODEL, "1") == registered
        assert profiles(MODEL, "2") is configured  # the registry has none: the configured one
    assert registry.calls == [(MODEL, "1"), (MODEL, "2")]
    assert profiles.retry() == []
    assert failures(metrics) == 0


def test_without_a_registry_the_configured_reference_is_used(clock: Clock) -> None:
    configured = profile()
    profiles = ProfileSource({MODEL: configured}, None, clock=clock)
    assert profiles(MODEL, "1") is configured
    assert profiles("other", "1") is None
    assert profiles.retry() == []


def test_a_version_the_registry_does_not_know_is_not_a_failure(clock: Clock) -> None:
    registry = FakeRegistry()
    registry.error = KeyError("no version 7")  # what a filesystem registry raises (LookupError)
    profiles, metrics = source(registry, clock)
    assert profiles(MODEL, "7") is None
    clock.now += 1000
    assert profiles.retry() == [] and registry.calls == [(MODEL, "7")]
    assert failures(metrics) == 0


def test_an_outage_falls_back_backs_off_and_switches_when_the_registry_answers(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    registered, configured = profile(100), profile(200)
    registry = FakeRegistry({(MODEL, "1"): registered.to_dict()})
    registry.error = RegistryUnavailable("the MLflow registry at http://127.0.0.1:9: refused")
    profiles, metrics = source(registry, clock, configured)
    with caplog.at_level(logging.ERROR, "driftwarden.monitor.profiles"):
        assert profiles(MODEL, "1") is configured
    [line] = caplog.messages
    assert "model churn version 1" in line and "http://127.0.0.1:9" in line
    assert "check that the registry is up" in line and "configured reference" in line
    assert failures(metrics) == 1
    # Backing off: neither a new version nor retry() asks the registry, however many events.
    for _ in range(100):
        assert profiles(MODEL, "2") is configured
        assert profiles.retry() == []
    assert registry.calls == [(MODEL, "1")]
    # Each failed try doubles the wait, up to the cap: 1, 2, 4, 8, 8 seconds.
    waits = []
    for _ in range(5):
        asked = len(registry.calls)
        while len(registry.calls) == asked:
            clock.now += 0.5
            profiles.retry()
        waits.append(clock.now)
    assert [b - a for a, b in zip([0.0, *waits], waits, strict=False)] == [1, 2, 4, 8, 8]
    assert failures(metrics) == 6
    # The registry is back: the version waiting longest first, then the next.
    registry.error = None
    clock.now += 8
    assert profiles.retry() == [ModelVersion(MODEL, "1")]
    assert profiles(MODEL, "1") == registered
    assert profiles.retry() == []  # version 2 has no registered profile: no change
    assert profiles(MODEL, "2") is configured
    assert profiles.retry() == [] and failures(metrics) == 6


def test_a_slow_registry_costs_the_deadline_and_its_late_answer_is_taken(clock: Clock) -> None:
    registered = profile()
    registry = FakeRegistry({(MODEL, "1"): registered.to_dict()})
    registry.gate = threading.Event()
    profiles, metrics = source(registry, clock, deadline_s=0.2)
    started = time.monotonic()
    assert profiles(MODEL, "1") is None
    assert profiles(MODEL, "2") is None  # a lookup under way: not asked, no wait
    assert time.monotonic() - started < 1.0
    assert failures(metrics) == 1 and registry.calls == [(MODEL, "1")]
    assert profiles.retry() == []  # still under way
    registry.gate.set()
    deadline = time.monotonic() + 5
    changed: list[ModelVersion] = []
    while not changed and time.monotonic() < deadline:
        changed = profiles.retry()
    assert changed == [ModelVersion(MODEL, "1")]
    assert profiles(MODEL, "1") == registered
    assert failures(metrics) == 1, "a late answer counts once"
    profiles.close()


@pytest.mark.parametrize(
    "answer",
    [
        ProfileError("runs:/abc/driftwarden/profile.json: 9000000 bytes, over the limit"),
        {"schema": 1, "model": "churn"},  # a document that is not a valid profile
    ],
    ids=["refused", "invalid"],
)
def test_an_unusable_registered_profile_is_counted_and_not_asked_again(
    clock: Clock, answer: Exception | dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    configured = profile()
    registry = FakeRegistry()
    if isinstance(answer, Exception):
        registry.error = answer
    else:
        registry.documents[(MODEL, "1")] = answer
    profiles, metrics = source(registry, clock, configured)
    with caplog.at_level(logging.ERROR, "driftwarden.monitor.profiles"):
        assert profiles(MODEL, "1") is configured
    assert "unusable" in caplog.text and "version 1" in caplog.text
    clock.now += 1000
    assert profiles.retry() == [] and registry.calls == [(MODEL, "1")]
    assert failures(metrics) == 1


def test_the_cache_is_bounded(clock: Clock) -> None:
    registry = FakeRegistry()
    profiles, _ = source(registry, clock, cache_size=3)
    for version in ["1", "2", "3", "4"]:
        profiles(MODEL, version)
    profiles(MODEL, "4")
    profiles(MODEL, "1")  # evicted: asked again
    assert registry.calls == [(MODEL, v) for v in ["1", "2", "3", "4", "1"]]


def test_the_processor_switches_a_version_to_its_registered_profile(clock: Clock) -> None:
    registry = FakeRegistry({(MODEL, "1"): profile().to_dict()})
    registry.error = RegistryUnavailable("the MLflow registry at http://127.0.0.1:9: refused")
    profiles, _ = source(registry, clock)  # no configured reference
    processor = StreamProcessor(config(), MonitorState(), profiles=profiles)
    processor.process([Record(PREDICTIONS, 0, 0, b"p0", prediction("p0", 1000.0))])
    key = ModelVersion(MODEL, "1")
    assert DriftSnapshot.of(processor.state).reference_missing == {key: 1}
    registry.error = None
    clock.now += 1
    processor.reprofile(profiles.retry())
    assert DriftSnapshot.of(processor.state).reference_missing == {key: 0}
    drift = processor.state.drift[key]
    assert drift is not None and drift.events_seen == 0
    processor.process([Record(PREDICTIONS, 0, 1, b"p1", prediction("p1", 1001.0))])
    assert processor.state.drift[key] is drift and drift.events_seen == 1
