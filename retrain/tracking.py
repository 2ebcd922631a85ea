"""The experiment tracking of retrain runs: one tracked run per retrain run.

A :class:`Tracker` records one run: params, metrics, tags and small text artifacts, then how it
ended. :class:`NullTracker` records nothing (no ``registry: {backend: mlflow}`` configured);
:class:`~driftwarden.retrain.mlflow_tracking.MlflowTracker` records in MLflow.

**Failure policy: a tracking outage never blocks or loses a retrain run.** The run always goes
through :class:`GuardedTracker`. The first tracking call that fails (server down, timeout,
refused credentials) is logged as a warning naming the server and what to check; the run goes on
untracked (no further logging calls, so an outage costs one timeout, not one per call), except
that ending the run is still tried, so a passing error leaves the run's outcome recorded. The
run's :class:`~driftwarden.retrain.run.RunOutcome` says ``tracking_failed``, and the worker counts
such runs in ``driftwarden_tracking_failures_total{model}``. The training, the registration,
the audit log and the events are never held back by the tracker; the audit entries name the
MLflow run only if one was started (``mlflow_run_id``).

>>> tracker = GuardedTracker(NullTracker())
>>> tracker.start("churn", "retrain", {})
>>> tracker.run_id, tracker.failed
(None, False)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Protocol

__all__ = ["GuardedTracker", "NullTracker", "Tracker"]

log = logging.getLogger(__name__)


class Tracker(Protocol):
    """Records one retrain run; a method that cannot record raises."""

    @property
    def run_id(self) -> str | None:
        """The tracked run's id once started (``None`` before, or when nothing is tracked)."""
        ...

    def start(self, model: str, name: str, tags: Mapping[str, str]) -> None:
        """Start the run of a retrain of ``model`` (named ``name``) with ``tags``."""
        ...

    def log_params(self, params: Mapping[str, str]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float]) -> None: ...

    def set_tags(self, tags: Mapping[str, str]) -> None: ...

    def log_artifact(self, path: str, content: str) -> None:
        """Store ``content`` (UTF-8 text) as the run's artifact at ``path``."""
        ...

    def end(self, outcome: str, reason: str | None) -> None:
        """End the run: ``failed`` as a failed run, any other outcome as finished; both with
        the outcome and ``reason`` as tags."""
        ...


class NullTracker:
    """Tracks nothing: the tracker of a config without MLflow."""

    @property
    def run_id(self) -> str | None:
        return None

    def start(self, model: str, name: str, tags: Mapping[str, str]) -> None:
        """Nothing to start."""

    def log_params(self, params: Mapping[str, str]) -> None:
        """Nothing to log."""

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Nothing to log."""

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Nothing to tag."""

    def log_artifact(self, path: str, content: str) -> None:
        """Nothing to store."""

    def end(self, outcome: str, reason: str | None) -> None:
        """Nothing to end."""


class GuardedTracker:
    """``tracker`` whose failures are logged and remembered (:attr:`failed`), never raised.

    ``where`` names the tracking server in the warning (its URI).
    """

    def __init__(self, tracker: Tracker, where: str = "") -> None:
        self._tracker = tracker
        self._where = where
        self._model = ""
        self.failed = False

    @property
    def run_id(self) -> str | None:
        return self._tracker.run_id

    def start(self, model: str, name: str, tags: Mapping[str, str]) -> None:
        self._model = model
        self._call("start a run", lambda: self._tracker.start(model, name, tags))

    def log_params(self, params: Mapping[str, str]) -> None:
        self._call("log params", lambda: self._tracker.log_params(params))

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        self._call("log metrics", lambda: self._tracker.log_metrics(metrics))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._call("set tags", lambda: self._tracker.set_tags(tags))

    def log_artifact(self, path: str, content: str) -> None:
        self._call(f"store {path}", lambda: self._tracker.log_artifact(path, content))

    def end(self, outcome: str, reason: str | None) -> None:
        """End the run if one was started, even after a failure (which may have passed)."""
        if self.run_id is not None:
            self._call("end the run", lambda: self._tracker.end(outcome, reason), always=True)

    def _call(self, what: str, record: Callable[[], None], *, always: bool = False) -> None:
        if self.failed and not always:
            return
        try:
            record()
        except Exception as exc:  # noqa: BLE001 - tracking must never stop a retrain run
            if not self.failed:
                log.warning(
                    "experiment tracking of the retrain of %s failed: could not %s (run %s) at "
                    "%s: %s. The run goes on untracked (counted in "
                    "driftwarden_tracking_failures_total). Check that the MLflow server is up "
                    "and reachable from the worker, and that its credentials may write to the "
                    "experiment",
                    self._model,
                    what,
                    self.run_id or "not started",
                    self._where or "the tracking server",
                    str(exc)[:500],
                )
            self.failed = True
