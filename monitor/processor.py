"""Applies micro-batches of consumed records to :class:`MonitorState`; no I/O.

Each record is either applied or turned into a dead-letter record carrying its reason. Joined
examples and dead letters are returned for the caller to publish. After a crash the caller may
pass the offsets up to which outputs were already delivered (``delivered``): replayed records
then rebuild state without publishing the same output twice.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from driftwarden.config import ModelConfig, MonitorConfig
from driftwarden.core.profile import ReferenceProfile
from driftwarden.monitor.bounds import check_feature_count, declared_only
from driftwarden.monitor.dead_letters import (
    dead_letter,
    header,
    input_limit,
    output_limit,
    record_size,
    source_headers,
)
from driftwarden.monitor.drift.checks import DriftSettings, VersionDrift
from driftwarden.monitor.drift.events import drift_events
from driftwarden.monitor.events import InvalidEvent, check_ahead, parse_label, parse_prediction
from driftwarden.monitor.join import ExpiryResult, Joined, LabelJoin
from driftwarden.monitor.performance import VersionPerformance
from driftwarden.monitor.policy import PolicyRules, RetrainPolicy, VersionView
from driftwarden.monitor.privacy import PrivacyGuard
from driftwarden.monitor.routing import RoutingCheck
from driftwarden.monitor.state import DriftFactory, MonitorState, PartitionState, TopicPartition
from driftwarden.monitor.versions import touch_version

__all__ = ["BatchOutput", "ConsumedRecord", "OutputRecord", "StreamProcessor"]

log = logging.getLogger(__name__)

MESSAGE_TOO_LARGE = "message_too_large"
MAX_REGRESSION_TARGET = 1e150

Headers = list[tuple[str, bytes]]

log = logging.getLogger(__name__)


class ConsumedRecord(Protocol):
    """The fields of a kafka-python ``ConsumerRecord`` that processing reads."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int: ...  # Kafka timestamp in milliseconds, -1 if none
    @property
    def headers(self) -> Iterable[tuple[str, bytes | None]]: ...


@dataclass(frozen=True, slots=True)
class OutputRecord:
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass(slots=True)
class BatchOutput:
    examples: list[OutputRecord] = field(default_factory=list)
    dead_letters: list[OutputRecord] = field(default_factory=list)
    events: list[OutputRecord] = field(default_factory=list)
    requests: list[OutputRecord] = field(default_factory=list)


Source = tuple[str, int, int]


@dataclass(slots=True)
class _DriftInputs:
    """One micro-batch's inputs to the drift checks of one model version."""

    rows: list[Mapping[str, object]] = field(default_factory=list)
    predictions: list[object] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    labels: list[object] = field(default_factory=list)
    joined_predictions: list[object] = field(default_factory=list)
    joined_timestamps: list[float] = field(default_factory=list)
    joined_sources: list[tuple[Source, Source]] = field(default_factory=list)


class StreamProcessor:
    """Joins, counts and scores micro-batches for the models of one config."""

    def __init__(
        self,
        config: MonitorConfig,
        state: MonitorState,
        partition_count: int = 1,
        delivered: Mapping[TopicPartition, int] | None = None,
        profiles: Callable[[str, str], ReferenceProfile | None] | None = None,
        routing: RoutingCheck | None = None,
    ) -> None:
        self._models = {m.name: m for m in config.models}
        # Features a model declares (with its PII features, hashed or dropped by the guard).
        self._declared = {
            m.name: frozenset([*m.features, *m.pii]) for m in config.models if m.features
        }
        self._new_drift = drift_factory(config, profiles)
        self._policy = RetrainPolicy(policy_rules(config), state.policy)
        self._privacy = PrivacyGuard.from_config(config)
        self._predictions_topic = config.topics.predictions
        self._labels_topic = config.topics.labels
        self._partition_count = max(partition_count, 1)
        self._routing = routing or RoutingCheck()
        self._input_limit, self._output_limit = input_limit(config), output_limit(config)
        self.state = state
        self._delivered = dict(delivered or {})
        self._apply_shares()

    @property
    def delivered(self) -> Mapping[TopicPartition, int]:
        """Input offsets up to which outputs were already delivered (a replay publishes nothing
        below them); change it through :meth:`replay_to` and :meth:`finish_replay`."""
        return self._delivered

    def process(self, records: Iterable[ConsumedRecord]) -> BatchOutput:
        out = BatchOutput()
        touched: set[tuple[int, str]] = set()
        offsets = self.state.offsets
        self._drift_inputs: dict[tuple[str, str], _DriftInputs] = {}
        for record in records:
            partition = self._partition(record.partition)
            # Checked, counted, then applied as usual: a misrouted record is never dropped.
            if self._routing.misrouted(
                record.topic, record.key, record.partition, self._partition_count
            ):
                partition.counters.misrouted[record.topic] += 1
            try:
                model = self._apply(record, partition, out)
                touched.add((record.partition, model))
            except InvalidEvent as exc:
                partition.counters.invalid[(record.topic, exc.reason)] += 1
                if self._publishable(((record.topic, record.partition, record.offset),)):
                    out.dead_letters.append(self._dead_letter(record, exc))
            offsets[(record.topic, record.partition)] = record.offset + 1
        for partition_id, model in touched:
            self._expire(self.state.partitions[partition_id], model)
        for key, inputs in self._drift_inputs.items():
            if key[1] not in self.state.versions.get(key[0], ()):
                # evicted during the batch (see driftwarden.monitor.versions): no state to update
                continue
            self._check_drift(key, inputs, out)
            self._check_policy(key, inputs, out)
        return out

    def _dead_letter(self, record: ConsumedRecord, exc: InvalidEvent) -> OutputRecord:
        """The dead letter of ``record``: PII redacted first, then cut to the output limit (a
        redacted value can be longer than the original)."""
        source = (record.topic, record.partition, record.offset)
        full = dead_letter(
            record.key,
            record.value,
            record.headers or (),
            exc.reason,
            exc.detail,
            source,
            sys.maxsize,
        )
        value, headers = self._privacy.dead_letter(full.value, full.headers)
        if record_size(full.key, value, headers) <= self._output_limit:
            return OutputRecord(full.key, value, headers)
        detail = (header(headers, "error-detail") or b"").decode(errors="replace")
        letter = dead_letter(
            full.key, value, headers, exc.reason, detail, source, self._output_limit
        )
        return OutputRecord(letter.key, letter.value, letter.headers)

    def adopt(self, partition_id: int, state: PartitionState) -> None:
        """Take over ``state`` (another instance's snapshot) for input partition
        ``partition_id``: its joins hold this config's shares of ``max_pending`` and
        ``max_pending_bytes``, not theirs, and no more than those (a forged snapshot cannot lift
        the bounds); joins of models this config does not have are dropped."""
        for name in [name for name in state.joins if name not in self._models]:
            del state.joins[name]
        self.state.partitions[partition_id] = state
        self._share_pending({partition_id: state})
        for name, join in state.joins.items():
            self._count_unmatched(state, name, join.evict_overflow(), "evicted")
            join.forget_beyond_limit()

    def start_at(self, tp: TopicPartition, offset: int | None) -> None:
        """Input partition ``tp`` resumes at ``offset`` (``None``: from its beginning, nothing
        applied yet)."""
        if offset is None:
            self.state.offsets.pop(tp, None)
        else:
            self.state.offsets[tp] = offset

    def replay_to(self, delivered: Mapping[TopicPartition, int]) -> None:
        """Outputs of the records before ``delivered`` were published already: replaying them
        rebuilds state only."""
        self._delivered.update(delivered)

    def finish_replay(self) -> None:
        """Forget the delivered offsets once every one of them is applied: from then on every
        output is new. Until then, nothing changes."""
        offsets = self.state.offsets
        if all(offsets.get(tp, 0) >= offset for tp, offset in self._delivered.items()):
            self._delivered.clear()

    def retain(self, owned: Collection[int]) -> list[int]:
        """Drop the state, offsets and delivered offsets of the input partitions not in
        ``owned`` (they moved to another instance); return the partitions whose state was
        dropped."""
        dropped = [number for number in self.state.partitions if number not in owned]
        for number in dropped:
            del self.state.partitions[number]
        for tp in [tp for tp in self.state.offsets if tp[1] not in owned]:
            del self.state.offsets[tp]
            self._delivered.pop(tp, None)
        return dropped

    def _share_pending(self, partitions: Mapping[int, PartitionState]) -> None:
        """Give restored joins the current share of ``max_pending`` (it may have changed)."""
        for partition_id, partition in partitions.items():
            for name, join in partition.joins.items():
                if name in self._models:
                    model = self._models[name]
                    join.max_pending = pending_share(
                        model.max_pending, partition_id, self._partition_count
                    )
                    join.max_pending_bytes = pending_share(
                        model.max_pending_bytes, partition_id, self._partition_count
                    )

    def _apply_shares(self) -> None:
        """Share ``max_pending`` among the restored partitions; warn where a share is zero."""
        self._share_pending(self.state.partitions)
        for model in self._models.values():
            if model.max_pending < self._partition_count:
                log.warning(
                    "model %s: max_pending %d is below the %d input partitions: partitions "
                    "%d and up hold nothing and join nothing; raise max_pending",
                    model.name,
                    model.max_pending,
                    self._partition_count,
                    model.max_pending,
                )

    def _partition(self, partition_id: int) -> PartitionState:
        state = self.state.partitions.get(partition_id)
        if state is None:
            state = self.state.partitions[partition_id] = PartitionState()
        return state

    def _apply(self, record: ConsumedRecord, partition: PartitionState, out: BatchOutput) -> str:
        counters = partition.counters
        if record.value is not None and len(record.value) > self._input_limit:
            raise InvalidEvent(
                MESSAGE_TOO_LARGE,
                f"value of {len(record.value)} bytes; the limit is {self._input_limit} bytes"
                " (the producer's max_request_size, set in kafka.client, minus 4.5 KiB)",
            )
        if record.topic == self._predictions_topic:
            pred = parse_prediction(record.value)  # type: ignore[arg-type]
            config = self._model(pred.model)
            check_ahead(pred.timestamp, record.timestamp, config.future_tolerance)
            check_feature_count(pred.features, config.max_features)
            pred, undeclared = declared_only(pred, self._declared.get(pred.model))
            if undeclared:
                counters.undeclared_features[pred.model] += undeclared
            pred = self._privacy.prediction(pred)  # no raw PII is kept, checkpointed or sent
            _check_target_type(config, pred.prediction, "prediction")
            join = self._join(partition, record.partition, config)
            result = join.add_prediction(pred, record.offset)
            counters.predictions[(pred.model, pred.version)] += 1
            touch_version(self.state, pred.model, pred.version, config.max_versions)
            inputs = self._inputs(pred.model, pred.version)
            inputs.rows.append(pred.features)
            inputs.predictions.append(pred.prediction)
            inputs.timestamps.append(pred.timestamp)
            inputs.sources.append((record.topic, record.partition, record.offset))
        else:
            label = parse_label(record.value)  # type: ignore[arg-type]
            config = self._model(label.model)
            check_ahead(label.timestamp, record.timestamp, config.future_tolerance)
            _check_target_type(config, label.label, "label")
            join = self._join(partition, record.partition, config)
            result = join.add_label(label, record.offset)
            counters.labels[label.model] += 1
        if result is None:  # the event now waits: keep the buffers within their share
            if join.overflowing:
                self._count_unmatched(partition, config.name, join.evict_overflow(), "evicted")
        elif isinstance(result, Joined):
            self._on_joined(partition, config, result, record.partition, out)
        else:
            self._count_unmatched(partition, config.name, result, "expired")
        return config.name

    def _model(self, name: str) -> ModelConfig:
        config = self._models.get(name)
        if config is None:
            raise InvalidEvent("unknown_model", f"model {name!r} is not configured")
        return config

    def _join(self, partition: PartitionState, partition_id: int, config: ModelConfig) -> LabelJoin:
        join = partition.joins.get(config.name)
        if join is None:
            count = self._partition_count
            join = partition.joins[config.name] = LabelJoin(
                config.label_ttl,
                pending_share(config.max_pending, partition_id, count),
                pending_share(config.max_pending_bytes, partition_id, count),
            )
        return join

    def _on_joined(
        self,
        partition: PartitionState,
        config: ModelConfig,
        joined: Joined,
        partition_id: int,
        out: BatchOutput,
    ) -> None:
        pred, label = joined.prediction, joined.label
        key = (config.name, pred.version)
        touch_version(self.state, config.name, pred.version, config.max_versions)
        counters = partition.counters
        counters.joined[key] += 1
        counters.observe_delay(config.name, joined.delay)
        perf = self.state.performance.get(key)
        if perf is None:
            perf = self.state.performance[key] = VersionPerformance.for_task(
                config.task.value, config.positive_label, config.window, config.max_classes
            )
        window_key = (label.timestamp, partition_id, joined.label_offset)
        if perf.update(label.label, pred.prediction, pred.scores, window_key):
            counters.correct[key] += 1
        inputs = self._inputs(*key)
        inputs.labels.append(label.label)
        inputs.joined_predictions.append(pred.prediction)
        inputs.joined_timestamps.append(label.timestamp)
        inputs.joined_sources.append(
            (
                (self._predictions_topic, partition_id, joined.prediction_offset),
                (self._labels_topic, partition_id, joined.label_offset),
            )
        )
        sources = (
            (self._predictions_topic, partition_id, joined.prediction_offset),
            (self._labels_topic, partition_id, joined.label_offset),
        )
        if self._publishable(sources):
            example = _example(joined, self._predictions_topic, partition_id)
            # 512: its headers, a topic name (at most 249 bytes) and three numbers.
            if len(example.key or b"") + len(example.value or b"") + 512 <= self._output_limit:
                out.examples.append(example)
            else:
                log.error(
                    "joined example of %s %r is larger than the producer's max_request_size"
                    " and is not published; raise kafka.client.max_request_size",
                    pred.model,
                    pred.prediction_id,
                )

    def _inputs(self, model: str, version: str) -> _DriftInputs:
        inputs = self._drift_inputs.get((model, version))
        if inputs is None:
            inputs = self._drift_inputs[(model, version)] = _DriftInputs()
        return inputs

    def _check_drift(self, key: tuple[str, str], inputs: _DriftInputs, out: BatchOutput) -> None:
        drift = self._drift(key)
        if drift is None:
            return
        # Windows keep the most recent events by (timestamp, partition, offset).
        origins = [(partition, offset) for _, partition, offset in inputs.sources]
        evaluations = drift.observe(inputs.rows, inputs.predictions, inputs.timestamps, origins)
        sources: list[tuple[Source, ...]] = [(inputs.sources[e.index],) for e in evaluations]
        joined = drift.observe_joined(
            inputs.labels,
            inputs.joined_predictions,
            inputs.joined_timestamps,
            [(label[1], label[2]) for _, label in inputs.joined_sources],
        )
        evaluations += joined
        sources += [inputs.joined_sources[e.index] for e in joined]
        for evaluation, triggers in zip(evaluations, sources, strict=True):
            if not self._publishable(triggers):
                continue
            for value in drift_events(key[0], key[1], evaluation):
                out.events.append(
                    OutputRecord(key[0].encode(), value, source_headers(*triggers[-1]))
                )

    def _check_policy(self, key: tuple[str, str], inputs: _DriftInputs, out: BatchOutput) -> None:
        model, version = key
        if model not in self._policy.rules or not (inputs.timestamps or inputs.joined_timestamps):
            return
        perf = self.state.performance.get(key)
        drift = self.state.drift.get(key)
        active: dict[str, list[str]] = {}
        if drift is not None:
            for (kind, feature), on in drift.alarms.active.items():
                if on:
                    active.setdefault(kind, []).append(feature)
        view = VersionView(
            version,
            joined=perf.count if perf is not None else 0,
            rolling={
                m: v for (m, w), v in (perf.values() if perf else {}).items() if w == "rolling"
            },
            active_alarms={kind: tuple(features) for kind, features in active.items()},
        )
        now = max([*inputs.timestamps, *inputs.joined_timestamps])
        request = self._policy.check(model, view, now)
        if request is None:
            return
        source = inputs.joined_sources[-1][-1] if inputs.joined_sources else inputs.sources[-1]
        self.state.partitions[source[1]].counters.retrain_requests[(model, request.reason)] += 1
        if self._publishable((source,)):
            out.requests.append(
                OutputRecord(model.encode(), request.to_json(), source_headers(*source))
            )

    def _drift(self, key: tuple[str, str]) -> VersionDrift | None:
        if key in self.state.drift:
            return self.state.drift[key]
        drift = self.state.drift[key] = self._new_drift(*key)
        return drift

    def _expire(self, partition: PartitionState, model: str) -> None:
        join = partition.joins[model]
        self._count_unmatched(partition, model, join.expire(), "expired")
        self._count_unmatched(partition, model, join.evict_overflow(), "evicted")

    @staticmethod
    def _count_unmatched(
        partition: PartitionState, model: str, result: ExpiryResult, reason: str
    ) -> None:
        if result.predictions:
            partition.counters.unmatched[(model, "prediction", reason)] += result.predictions
        if result.labels:
            partition.counters.unmatched[(model, "label", reason)] += result.labels

    def _publishable(self, sources: Iterable[tuple[str, int, int]]) -> bool:
        """False when every source of an output is below the already-delivered offsets."""
        if not self.delivered:
            return True
        return any(offset >= self.delivered.get((t, p), 0) for t, p, offset in sources)


def pending_share(max_pending: int, partition_id: int, partition_count: int) -> int:
    """The part of ``max_pending`` that input partition ``partition_id`` may hold: the shares of
    partitions ``0 .. partition_count - 1`` add up to exactly ``max_pending``.

    >>> [pending_share(10, p, 4) for p in range(4)]
    [3, 3, 2, 2]
    """
    base, extra = divmod(max_pending, partition_count)
    return base + (partition_id < extra)


def drift_factory(
    config: MonitorConfig, profiles: Callable[[str, str], ReferenceProfile | None] | None
) -> DriftFactory:
    """Builds the drift checks of a (model, version) from its reference profile, if it has one
    (``None`` for a model no longer configured)."""
    models = {m.name: m for m in config.models}
    privacy = PrivacyGuard.from_config(config)

    def build(name: str, version: str) -> VersionDrift | None:
        model = models.get(name)
        profile = None if model is None or profiles is None else profiles(name, version)
        if model is None or profile is None:
            return None
        features = privacy.drift_features(name, list(model.features), profile.features)
        return VersionDrift(profile, drift_settings(model), model.task.value, features)

    return build


def drift_settings(model: ModelConfig) -> DriftSettings:
    drift = model.drift
    return DriftSettings(
        window=drift.window,
        every=drift.every,
        false_alarm_rate=drift.false_alarm_rate,
        method=drift.features.method,
        threshold=drift.features.threshold,
        per_feature={
            name: (override.method, override.threshold)
            for name, override in drift.features.overrides.items()
        },
        detector=drift.concept.detector,
        detector_params=drift.concept.params,
        resolve_ratio=drift.resolve_ratio,
    )


def policy_rules(config: MonitorConfig) -> dict[str, PolicyRules]:
    rules = {}
    for model in config.models:
        if model.retrain is None:
            continue
        when = model.retrain.when
        performance, drift = when.performance_below, when.drift
        rules[model.name] = PolicyRules(
            metric=performance.metric if performance else None,
            value=performance.value if performance else 0.0,
            min_examples=performance.min_examples if performance else 500,
            drift_kinds=tuple(drift.kinds) if drift else (),
            min_features=drift.min_features if drift else 1,
            cooldown=model.retrain.cooldown,
        )
    return rules


def _check_target_type(config: ModelConfig, value: object, field: str) -> None:
    if config.task.value != "regression":
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent("schema_violation", f"field {field!r} must be a number for regression")
    if abs(value) > MAX_REGRESSION_TARGET:  # its squared error would overflow a float
        raise InvalidEvent(
            "schema_violation",
            f"field {field!r} is {value!r}: regression targets must be at most"
            f" {MAX_REGRESSION_TARGET:g} in magnitude",
        )


def _example(joined: Joined, topic: str, partition: int) -> OutputRecord:
    pred, label = joined.prediction, joined.label
    value = orjson.dumps(
        {
            "schema": 1,
            "prediction_id": pred.prediction_id,
            "model": pred.model,
            "model_version": pred.version,
            "features": pred.features,
            "prediction": pred.prediction,
            "scores": pred.scores,
            "label": label.label,
            "prediction_timestamp": pred.timestamp,
            "label_timestamp": label.timestamp,
        }
    )
    headers = source_headers(topic, partition, joined.prediction_offset)
    headers.append(("label-offset", str(joined.label_offset).encode()))
    return OutputRecord(pred.model.encode(), value, headers)
