"""What the demo shows: a live progress line, then a summary, the audit trail and a plot."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from driftwarden.demo.estimates import EstimateSample, first_below
from driftwarden.demo.serving import START
from driftwarden.monitor.exporter import MetricsSnapshot

__all__ = ["EventWatcher", "Stream", "Summary", "plot_accuracy", "progress_line", "summarize"]


@dataclass
class EventWatcher:
    """Reads the events topic in the background: drift alarms, retrains, promotions."""

    consumer_options: dict[str, Any]
    topic: str
    events: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _caught_up: threading.Event = field(default_factory=threading.Event)

    def start(self) -> EventWatcher:
        threading.Thread(target=self._run, name="events", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def caught_up(self) -> bool:
        """Everything on the topic until a moment ago has been read."""
        self._caught_up.clear()
        return self._caught_up.wait(2.0)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("type") == kind]

    def _run(self) -> None:
        consumer = KafkaConsumer(**self.consumer_options, group_id=None, enable_auto_commit=False)
        try:
            partition = TopicPartition(self.topic, 0)
            consumer.assign([partition])
            consumer.seek_to_beginning()
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=200).values():
                    self.events.extend(orjson.loads(r.value) for r in records if r.value)
                high = consumer.highwater(partition)
                if high is not None and consumer.position(partition) >= high:
                    self._caught_up.set()
        finally:
            consumer.close()


def progress_line(
    sent: int, total: int, rate: float, snapshot: MetricsSnapshot, watcher: EventWatcher
) -> str:
    rolling = {
        version: value
        for (_, version, metric, window), value in snapshot.performance.items()
        if metric == "accuracy" and window == "rolling"
    }
    accuracy = " ".join(f"v{v}={a:.2f}" for v, a in sorted(rolling.items())) or "-"
    alarms = len(watcher.of_type("drift_detected"))
    retrains = watcher.of_type("retrain_completed")
    state = retrains[-1]["outcome"] if retrains else "idle"
    width = 24
    filled = int(width * sent / max(total, 1))
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {sent}/{total} events {rate:6.0f}/s | "
        f"rolling accuracy {accuracy} | drift alarms {alarms} | retrain {state}"
    )


CAPTIONS = {
    "concept": "A concept change: approvals follow a new rule while the model stays as sure of "
    "itself as before, so the label-free estimate cannot see it; only the labels show the drop.",
    "covariate": "A covariate shift: applicants crowd the ages where the rule flips; the rule, "
    "and the model's calibration with it, hold, so the estimate falls as the predictions arrive, "
    "before their labels do.",
}


@dataclass(frozen=True)
class Summary:
    scenario: str
    events: int
    change_at: int
    label_delay: int
    first_drift_alarm_at: int | None
    retrain_runs: list[dict[str, Any]]
    promoted_versions: list[str]
    promotion_at: int | None
    accuracy_before_change: float | None
    accuracy_after_change_before_promotion: float | None
    accuracy_after_promotion: float | None
    estimation_threshold: float
    estimate_below_threshold_at: int | None
    realized_below_threshold_at: int | None
    wall_seconds: float
    metrics_url: str

    @property
    def estimate_lead_events(self) -> int | None:
        """Predictions between the estimate's and the realized metric's fall below the threshold."""
        estimate, realized = self.estimate_below_threshold_at, self.realized_below_threshold_at
        return None if estimate is None or realized is None else realized - estimate

    @property
    def estimate_led(self) -> bool:
        """The estimate fell below the threshold, and before the realized metric (if it did)."""
        estimate, realized = self.estimate_below_threshold_at, self.realized_below_threshold_at
        return estimate is not None and (realized is None or estimate < realized)

    @property
    def loop_closed(self) -> bool:
        before, after = self.accuracy_after_change_before_promotion, self.accuracy_after_promotion
        return (
            bool(self.promoted_versions)
            and before is not None
            and after is not None
            and (after > before)
        )

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                **self.__dict__,
                "estimate_lead_events": self.estimate_lead_events,
                "estimate_led": self.estimate_led,
                "loop_closed": self.loop_closed,
            },
            option=orjson.OPT_INDENT_2,
        )

    def table(self) -> str:
        def pct(value: float | None) -> str:
            return "-" if value is None else f"{value:.1%}"

        rows = [
            ("scenario", f"{self.scenario} (labels {self.label_delay} events late)"),
            ("events", str(self.events)),
            ("world changes at event", str(self.change_at)),
            ("first drift alarm at event", str(self.first_drift_alarm_at)),
            (
                "retrain runs",
                ", ".join(f"v{r['version']}:{r['outcome']}" for r in self.retrain_runs) or "none",
            ),
            ("promoted versions", ", ".join(self.promoted_versions) or "none"),
            ("serving the last promotion from event", str(self.promotion_at)),
            ("accuracy before the change", pct(self.accuracy_before_change)),
            (
                "accuracy after the change, before promotion",
                pct(self.accuracy_after_change_before_promotion),
            ),
            ("accuracy after promotion", pct(self.accuracy_after_promotion)),
            (
                f"estimated accuracy < {self.estimation_threshold:g} at event",
                str(self.estimate_below_threshold_at),
            ),
            (
                f"realized accuracy < {self.estimation_threshold:g} at event",
                str(self.realized_below_threshold_at),
            ),
            ("estimate ahead of the labels by", f"{self.estimate_lead_events} events"),
            ("wall time", f"{self.wall_seconds:.1f} s"),
            ("metrics", self.metrics_url),
            ("loop closed", "yes" if self.loop_closed else "NO"),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


@dataclass(frozen=True)
class Stream:
    """What was replayed: the scenario, its size and change, and how late the labels came."""

    scenario: str
    events: int
    change_at: int
    label_delay: int


def summarize(
    stream: Stream,
    correct: Sequence[bool],
    served_by: Sequence[str],
    watcher: EventWatcher,
    estimates: Sequence[EstimateSample],
    policy: tuple[float, int],
    wall_seconds: float,
    metrics_url: str,
) -> Summary:
    """``policy``: the retrain threshold on accuracy, and the predictions (estimate) or labelled
    examples (realized) needed before it counts."""
    alarms = [
        e
        for e in watcher.of_type("drift_detected")
        if e.get("kind") in ("data", "concept", "prediction")
    ]
    first_alarm = min((int(_event_index(e["timestamp"])) for e in alarms), default=None)
    promoted = [
        e["version"]
        for e in watcher.of_type("model_promoted")
        if e.get("previous_version") is not None
    ]
    promotion_at = None
    if promoted:
        promotion_at = next((i for i, v in enumerate(served_by) if v == promoted[-1]), None)
    end = promotion_at if promotion_at is not None else len(correct)
    change_at = stream.change_at
    threshold, least = policy
    return Summary(
        scenario=stream.scenario,
        events=stream.events,
        change_at=change_at,
        label_delay=stream.label_delay,
        first_drift_alarm_at=first_alarm,
        retrain_runs=[
            {
                "version": e.get("version"),
                "outcome": e.get("outcome"),
                "request_id": e.get("request_id"),
            }
            for e in watcher.of_type("retrain_completed")
        ],
        promoted_versions=promoted,
        promotion_at=promotion_at,
        accuracy_before_change=_mean(correct[:change_at]),
        accuracy_after_change_before_promotion=_mean(correct[change_at:end]),
        accuracy_after_promotion=_mean(correct[promotion_at:])
        if promotion_at is not None
        else None,
        estimation_threshold=threshold,
        estimate_below_threshold_at=first_below(
            estimates, threshold, lambda e: e.estimated, lambda e: e.predictions >= least
        ),
        realized_below_threshold_at=first_below(
            estimates, threshold, lambda e: e.realized, lambda e: e.joined >= least
        ),
        wall_seconds=round(wall_seconds, 2),
        metrics_url=metrics_url,
    )


def plot_accuracy(
    path: Path,
    correct: Sequence[bool],
    summary: Summary,
    estimates: Sequence[EstimateSample],
    window: int = 500,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    running, rolling = 0, []
    for i, ok in enumerate(correct):
        running += ok - (correct[i - window] if i >= window else 0)
        rolling.append(running / min(i + 1, window))
    figure, axes = plt.subplots(figsize=(10, 5.2))
    axes.plot(
        range(len(rolling)),
        rolling,
        color="tab:blue",
        linewidth=0.8,
        label=f"accuracy in hindsight (last {window})",
    )
    _plot_monitor_view(axes, summary, estimates)
    axes.axvline(summary.change_at, color="tab:red", linestyle="--", label="world changes")
    if summary.first_drift_alarm_at is not None:
        axes.axvline(
            summary.first_drift_alarm_at,
            color="tab:orange",
            linestyle=":",
            label="first drift alarm",
        )
    if summary.promotion_at is not None:
        axes.axvline(
            summary.promotion_at,
            color="tab:green",
            linestyle="-.",
            label=f"v{summary.promoted_versions[-1]} serving",
        )
    axes.set_xlabel("event")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0, 1.02)
    axes.set_title(f"driftwarden demo ({summary.scenario}): accuracy over the stream")
    axes.legend(loc="lower left", fontsize=8)
    figure.text(0.01, 0.01, CAPTIONS[summary.scenario], fontsize=8, wrap=True)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _plot_monitor_view(axes: Any, summary: Summary, estimates: Sequence[EstimateSample]) -> None:
    """The monitor's estimate with its band and its realized accuracy, at the predictions it had
    applied when it showed them; the threshold and where each first fell below it."""
    shown = [e for e in estimates if e.estimated is not None]
    if shown:
        x = [e.predictions for e in shown]
        axes.fill_between(
            x,
            [e.lower if e.lower is not None else e.estimated for e in shown],
            [e.upper if e.upper is not None else e.estimated for e in shown],
            color="tab:purple",
            alpha=0.2,
            step="post",
        )
        axes.step(
            x,
            [e.estimated for e in shown],
            where="post",
            color="tab:purple",
            label="estimated accuracy, no labels (monitor) and band",
        )
    realized = [e for e in estimates if e.realized is not None and e.joined > 0]
    if realized:
        axes.step(
            [e.predictions for e in realized],
            [e.realized for e in realized],
            where="post",
            color="black",
            label="realized accuracy, from labels (monitor)",
        )
    axes.axhline(
        summary.estimation_threshold,
        color="grey",
        linestyle=":",
        linewidth=0.8,
        label=f"retrain threshold {summary.estimation_threshold:g}",
    )
    for at, color, text in (
        (summary.estimate_below_threshold_at, "tab:purple", "estimate below threshold"),
        (summary.realized_below_threshold_at, "black", "realized below threshold"),
    ):
        if at is not None:
            axes.axvline(at, color=color, linestyle=(0, (1, 3)), label=text)


def print_audit(audit_lines: list[dict[str, Any]]) -> None:
    print("audit trail:")
    for entry in audit_lines:
        version = f"v{entry['version']}" if entry.get("version") else ""
        print(
            f"  {entry['seq']:>3} {entry['timestamp']}  {entry['action']:<20} "
            f"{entry['model']} {version:<4} by {entry['actor']}"
        )


def _event_index(timestamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(timestamp).timestamp() - START


def _mean(values: Sequence[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
