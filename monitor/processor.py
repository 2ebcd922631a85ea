"""Applies micro-batches of consumed records to :class:`MonitorState`; no I/O.

Each record is either applied or turned into a dead-letter record carrying its reason. Joined
examples and dead letters are returned for the caller to publish. After a crash the caller may
pass the offsets up to which outputs were already delivered (``delivered``): replayed records
then rebuild state without publishing the same output twice.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Collection, Iterable, Mapping

from kafka.structs import TopicPartition

from driftwarden.config import ModelConfig, MonitorConfig
from driftwarden.contracts.dead_letters import dead_letter
from driftwarden.contracts.drift import drift_events
from driftwarden.contracts.errors import InvalidEvent
from driftwarden.contracts.examples import example_record
from driftwarden.contracts.inputs import check_ahead, parse_label, parse_prediction
from driftwarden.contracts.records import header, record_size, source_headers
from driftwarden.core.keys import ModelVersion
from driftwarden.monitor.batch import BatchOutput, ConsumedRecord, OutputRecord
from driftwarden.monitor.bounds import check_feature_count, check_target, declared_only
from driftwarden.monitor.drift.checks import VersionDrift
from driftwarden.monitor.drift.factory import ProfileSource, drift_factory
from driftwarden.monitor.drift.inputs import DriftBatch, JoinedExample, ObservedPrediction, Source
from driftwarden.monitor.estimation.stage import EstimationStage
from driftwarden.monitor.join import ExpiryResult, Joined, LabelJoin
from driftwarden.monitor.performance import VersionPerformance
from driftwarden.monitor.policy import RetrainPolicy
from driftwarden.monitor.policy_inputs import policy_rules, version_view
from driftwarden.monitor.privacy import PrivacyGuard
from driftwarden.monitor.record_limits import input_limit, output_limit
from driftwarden.monitor.routing import RoutingCheck
from driftwarden.monitor.shares import pending_share
from driftwarden.monitor.state import MonitorState, PartitionState
from driftwarden.monitor.versions import touch_version

__all__ = ["BatchOutput", "ConsumedRecord", "OutputRecord", "StreamProcessor"]

log = logging.getLogger(__name__)

MESSAGE_TOO_LARGE = "message_too_large"


class StreamProcessor:
    """Joins, counts and scores micro-batches for the models of one config."""

    def __init__(
        self,
        config: MonitorConfig,
        state: MonitorState,
        partition_count: int = 1,
        delivered: Mapping[TopicPartition, int] | None = None,
        profiles: ProfileSource | None = None,
        routing: RoutingCheck | None = None,
    ) -> None:
        self._models = {m.name: m for m in config.models}
        # Features a model declares (with its PII features, hashed or dropped by the guard).
        self._declared = {
            m.name: frozenset([*m.features, *m.pii]) for m in config.models if m.features
        }
        self._new_drift = drift_factory(config, profiles)
        self._estimation = EstimationStage(config, state, profiles)
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
        self._drift_inputs: dict[ModelVersion, DriftBatch] = {}
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
                if self._publishable((Source(record.topic, record.partition, record.offset),)):
                    out.dead_letters.append(self._dead_letter(record, exc))
            offsets[TopicPartition(record.topic, record.partition)] = record.offset + 1
        for partition_id, model in touched:
            self._expire(self.state.partitions[partition_id], model)
        out.events.extend(self._estimation.finish_batch(self._drift_inputs, self._publishable))
        for key, batch in self._drift_inputs.items():
            if key.version not in self.state.versions.get(key.model, ()):
                # evicted during the batch (see driftwarden.monitor.versions): no state to update
                continue
            self._check_drift(key, batch, out)
            self._check_policy(key, batch, out)
        return out

    def _dead_letter(self, record: ConsumedRecord, exc: InvalidEvent) -> OutputRecord:
        """The dead letter of ``record``: PII redacted first, then cut to the output limit (a
        redacted value can be longer than the original)."""
        source = Source(record.topic, record.partition, record.offset)
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
        for tp in [tp for tp in self.state.offsets if tp.partition not in owned]:
            del self.state.offsets[tp]
            self._delivered.pop(tp, None)
        return dropped

    def reprofile(self, keys: Iterable[ModelVersion]) -> None:
        """The reference profile of these versions changed (the registry answered after a
        failure): their drift checks start afresh from it; versions without state stay so."""
        keys = list(keys)
        self._estimation.reprofile(keys)
        for key in keys:
            if key in self.state.drift:
                self.state.drift[key] = self._new_drift(*key)

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
            check_target(config.task, pred.prediction, "prediction")
            join = self._join(partition, record.partition, config)
            result = join.add_prediction(pred, record.offset)
            key = ModelVersion(pred.model, pred.version)
            counters.predictions[key] += 1
            touch_version(self.state, pred.model, pred.version, config.max_versions)
            source = Source(record.topic, record.partition, record.offset)
            self._estimation.prediction(pred, record.partition, record.offset)
            self._batch(key).predictions.append(
                ObservedPrediction(pred.features, pred.prediction, pred.timestamp, source)
            )
        else:
            label = parse_label(record.value)  # type: ignore[arg-type]
            config = self._model(label.model)
            check_ahead(label.timestamp, record.timestamp, config.future_tolerance)
            check_target(config.task, label.label, "label")
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
        key = ModelVersion(config.name, pred.version)
        touch_version(self.state, config.name, pred.version, config.max_versions)
        counters = partition.counters
        counters.joined[key] += 1
        counters.observe_delay(config.name, joined.delay)
        perf = self.state.performance.get(key)
        if perf is None:
            perf = self.state.performance[key] = VersionPerformance.for_task(
                config.task, config.positive_label, config.window, config.max_classes
            )
        window_key = (label.timestamp, partition_id, joined.label_offset)
        if perf.update(label.label, pred.prediction, pred.scores, window_key):
            counters.correct[key] += 1
        observed = JoinedExample(
            label.label,
            pred.prediction,
            label.timestamp,
            Source(self._predictions_topic, partition_id, joined.prediction_offset),
            Source(self._labels_topic, partition_id, joined.label_offset),
        )
        self._batch(key).examples.append(observed)
        self._estimation.label(pred, label, partition_id)
        if self._publishable((observed.prediction_source, observed.label_source)):
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

    def _batch(self, key: ModelVersion) -> DriftBatch:
        batch = self._drift_inputs.get(key)
        if batch is None:
            batch = self._drift_inputs[key] = DriftBatch()
        return batch

    def _check_drift(self, key: ModelVersion, batch: DriftBatch, out: BatchOutput) -> None:
        drift = self._drift(key)
        if drift is None:
            return
        for evaluation, triggers in batch.observe(drift):
            if not self._publishable(triggers):
                continue
            for value in drift_events(key.model, key.version, evaluation):
                out.events.append(
                    OutputRecord(key.model.encode(), value, source_headers(*triggers[-1]))
                )

    def _check_policy(self, key: ModelVersion, batch: DriftBatch, out: BatchOutput) -> None:
        model, version = key
        if model not in self._policy.rules:
            return
        state = self.state
        view = version_view(
            version, state.performance.get(key), state.drift.get(key), state.estimation.get(key)
        )
        request = self._policy.check(model, view, batch.latest_timestamp())
        if request is None:
            return
        source = batch.last_source()
        self.state.partitions[source.partition].counters.retrain_requests[
            (model, request.reason)
        ] += 1
        if self._publishable((source,)):
            out.requests.append(
                OutputRecord(model.encode(), request.to_json(), source_headers(*source))
            )

    def _drift(self, key: ModelVersion) -> VersionDrift | None:
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

    def _publishable(self, sources: Iterable[Source]) -> bool:
        """False when every source of an output is below the already-delivered offsets."""
        if not self.delivered:
            return True
        return any(s.offset >= self.delivered.get((s.topic, s.partition), 0) for s in sources)


def _example(joined: Joined, topic: str, partition: int) -> OutputRecord:
    source = (topic, partition, joined.prediction_offset)
    record = example_record(joined.prediction, joined.label, source, joined.label_offset)
    return OutputRecord(*record)
