"""The catalogue of the monitor's metrics: every ``driftwarden_*`` family it exports besides the
core's (:mod:`driftwarden.core.metrics`).

The stream counters carry the ``partition`` of the input partition they were counted on (see
:mod:`driftwarden.monitor.state`), so a series moves between instances with its partition.
"""

from __future__ import annotations

from driftwarden.core.metric_spec import MetricSpec

__all__ = [
    "CHANGELOG_RECORDS_REJECTED",
    "CONSUMER_LAG",
    "CORRECT",
    "DATA_QUALITY_RATIO",
    "DRIFT_ACTIVE",
    "DRIFT_ALARMS",
    "DRIFT_SCORE",
    "DRIFT_THRESHOLD",
    "ESTIMATED_PERFORMANCE",
    "ESTIMATED_PERFORMANCE_LOWER",
    "ESTIMATED_PERFORMANCE_UPPER",
    "ESTIMATION_CALIBRATED",
    "ESTIMATION_ERROR",
    "ESTIMATION_WITHIN_BAND",
    "ESTIMATION_WINDOWS",
    "ESTIMATION_SKIPPED",
    "INVALID_EVENTS",
    "JOINED",
    "KAFKA_RECONNECTS",
    "LABELS",
    "LABEL_DELAY_SECONDS",
    "LAST_CHECKPOINT_TIMESTAMP_SECONDS",
    "METRICS",
    "MISROUTED_RECORDS",
    "PENDING",
    "PERFORMANCE",
    "PREDICTIONS",
    "PROFILE_LOOKUP_FAILURES",
    "REFERENCE_MISSING",
    "RETRAIN_REQUESTS",
    "UNDECLARED_FEATURES_DROPPED",
    "UNMATCHED",
    "VERSIONS_EVICTED",
]

PREDICTIONS = MetricSpec(
    "driftwarden_predictions",
    "counter",
    "Prediction events applied.",
    ("model", "version", "partition"),
)
LABELS = MetricSpec(
    "driftwarden_labels", "counter", "Label events applied.", ("model", "partition")
)
JOINED = MetricSpec(
    "driftwarden_joined",
    "counter",
    "Labels joined to their prediction.",
    ("model", "version", "partition"),
)
CORRECT = MetricSpec(
    "driftwarden_correct",
    "counter",
    "Joined classifications that were correct.",
    ("model", "version", "partition"),
)
UNMATCHED = MetricSpec(
    "driftwarden_unmatched",
    "counter",
    "Predictions or labels dropped unjoined.",
    ("model", "kind", "reason", "partition"),
)
RETRAIN_REQUESTS = MetricSpec(
    "driftwarden_retrain_requests",
    "counter",
    "Retrain requests the monitor published.",
    ("model", "reason", "partition"),
)
INVALID_EVENTS = MetricSpec(
    "driftwarden_invalid_events",
    "counter",
    "Messages sent to the dead-letter topic.",
    ("topic", "reason", "partition"),
)
MISROUTED_RECORDS = MetricSpec(
    "driftwarden_misrouted_records",
    "counter",
    "Keyed input records not on the partition murmur2 of their key gives (still applied).",
    ("topic", "partition"),
)
UNDECLARED_FEATURES_DROPPED = MetricSpec(
    "driftwarden_undeclared_features_dropped",
    "counter",
    "Feature values dropped because the model's features do not declare them.",
    ("model", "partition"),
)
PENDING = MetricSpec(
    "driftwarden_pending", "gauge", "Items waiting for their partner.", ("model", "kind")
)
VERSIONS_EVICTED = MetricSpec(
    "driftwarden_versions_evicted",
    "counter",
    "Model versions whose state was evicted to stay within max_versions.",
    ("model",),
)
LABEL_DELAY_SECONDS = MetricSpec(
    "driftwarden_label_delay_seconds",
    "histogram",
    "Event-time delay from prediction to label.",
    ("model", "partition"),
)
PERFORMANCE = MetricSpec(
    "driftwarden_performance",
    "gauge",
    "Online model performance.",
    ("model", "version", "metric", "window"),
)
ESTIMATED_PERFORMANCE = MetricSpec(
    "driftwarden_estimated_performance",
    "gauge",
    "Performance estimated from calibrated scores (CBPE), before any label.",
    ("model", "version", "metric", "window"),
)
ESTIMATED_PERFORMANCE_LOWER = MetricSpec(
    "driftwarden_estimated_performance_lower",
    "gauge",
    "Lower end of the estimate's 95% sampling band.",
    ("model", "version", "metric", "window"),
)
ESTIMATED_PERFORMANCE_UPPER = MetricSpec(
    "driftwarden_estimated_performance_upper",
    "gauge",
    "Upper end of the estimate's 95% sampling band.",
    ("model", "version", "metric", "window"),
)
ESTIMATION_CALIBRATED = MetricSpec(
    "driftwarden_estimation_calibrated",
    "gauge",
    "1 when the estimates use the reference profile's calibration, 0 when raw scores.",
    ("model", "version"),
)
ESTIMATION_ERROR = MetricSpec(
    "driftwarden_estimation_error",
    "gauge",
    "Estimate minus realized value over the last reconciled window.",
    ("model", "version", "metric"),
)
ESTIMATION_WITHIN_BAND = MetricSpec(
    "driftwarden_estimation_within_band",
    "gauge",
    "1 when the last reconciled window's realized value fell inside the estimate's band.",
    ("model", "version", "metric"),
)
ESTIMATION_WINDOWS = MetricSpec(
    "driftwarden_estimation_windows",
    "counter",
    "Estimated windows by outcome: reconciled, unlabeled (labels all expired), dropped.",
    ("model", "version", "outcome"),
)
ESTIMATION_SKIPPED = MetricSpec(
    "driftwarden_estimation_skipped",
    "counter",
    "Predictions left out of estimation, by reason (unscored, too_many_classes).",
    ("model", "version", "reason"),
)
CONSUMER_LAG = MetricSpec(
    "driftwarden_consumer_lag",
    "gauge",
    "Messages behind the high watermark.",
    ("topic", "partition"),
)
DRIFT_SCORE = MetricSpec(
    "driftwarden_drift_score",
    "gauge",
    "Latest drift score against the reference.",
    ("model", "version", "feature", "statistic"),
)
DRIFT_THRESHOLD = MetricSpec(
    "driftwarden_drift_threshold",
    "gauge",
    "Alarm threshold of the drift score.",
    ("model", "version", "feature", "statistic"),
)
DRIFT_ACTIVE = MetricSpec(
    "driftwarden_drift_active",
    "gauge",
    "1 while a drift alarm is active.",
    ("model", "version", "kind", "feature"),
)
DRIFT_ALARMS = MetricSpec(
    "driftwarden_drift_alarms",
    "counter",
    "Drift alarms entered.",
    ("model", "version", "kind", "feature"),
)
DATA_QUALITY_RATIO = MetricSpec(
    "driftwarden_data_quality_ratio",
    "gauge",
    "Share of the drift window failing a check.",
    ("model", "version", "feature", "check"),
)
REFERENCE_MISSING = MetricSpec(
    "driftwarden_reference_missing",
    "gauge",
    "1 when a version has no reference profile.",
    ("model", "version"),
)
PROFILE_LOOKUP_FAILURES = MetricSpec(
    "driftwarden_profile_lookup_failures",
    "counter",
    "Lookups of a version's reference profile in the model registry that failed or timed out, "
    "or found an unusable profile.",
    ("model",),
)
LAST_CHECKPOINT_TIMESTAMP_SECONDS = MetricSpec(
    "driftwarden_last_checkpoint_timestamp_seconds",
    "gauge",
    "Unix time of the last completed checkpoint.",
)
KAFKA_RECONNECTS = MetricSpec(
    "driftwarden_kafka_reconnects",
    "counter",
    "Restarts of the Kafka clients from the last checkpoint after a Kafka failure.",
)
CHANGELOG_RECORDS_REJECTED = MetricSpec(
    "driftwarden_changelog_records_rejected",
    "counter",
    "Changelog records or snapshots skipped by a reader: malformed, too large, failing "
    "their checksum or HMAC, or undecodable.",
    ("reason",),
)

METRICS: tuple[MetricSpec, ...] = (
    PREDICTIONS,
    LABELS,
    JOINED,
    CORRECT,
    UNMATCHED,
    RETRAIN_REQUESTS,
    INVALID_EVENTS,
    MISROUTED_RECORDS,
    UNDECLARED_FEATURES_DROPPED,
    PENDING,
    VERSIONS_EVICTED,
    LABEL_DELAY_SECONDS,
    PERFORMANCE,
    ESTIMATED_PERFORMANCE,
    ESTIMATED_PERFORMANCE_LOWER,
    ESTIMATED_PERFORMANCE_UPPER,
    ESTIMATION_CALIBRATED,
    ESTIMATION_ERROR,
    ESTIMATION_WITHIN_BAND,
    ESTIMATION_WINDOWS,
    ESTIMATION_SKIPPED,
    CONSUMER_LAG,
    DRIFT_SCORE,
    DRIFT_THRESHOLD,
    DRIFT_ACTIVE,
    DRIFT_ALARMS,
    DATA_QUALITY_RATIO,
    REFERENCE_MISSING,
    PROFILE_LOOKUP_FAILURES,
    LAST_CHECKPOINT_TIMESTAMP_SECONDS,
    KAFKA_RECONNECTS,
    CHANGELOG_RECORDS_REJECTED,
)
