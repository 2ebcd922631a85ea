"""``driftwarden retrain worker``: takes retrain requests and cron schedules, runs them.

Requests come from the requests topic (the worker's own consumer group); schedules are cron jobs
in a persistent APScheduler job store in the state directory, so they survive restarts. Runs go
to a bounded process pool, at most one per model at a time (a request for a model whose run is
pending or running is coalesced into it), so training never blocks consumption.

Anyone with produce rights on the requests topic can write to it, so no message can stop the
consumer: an invalid one is rejected (logged, counted by a fixed category in
``driftwarden_retrain_requests_rejected_total{reason}``), any error handling one is caught the
same way, and the offset is committed either way. Requests that start no run (coalesced into a
pending one, or about a version no longer in production) are audited at most once per model per
``retrain.cooldown``; the next entry of the model counts the ones left out (``unaudited``).
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from prometheus_client import CollectorRegistry

from driftwarden.contracts.errors import InvalidRequest
from driftwarden.contracts.requests import RetrainRequest
from driftwarden.core import kafka_compat
from driftwarden.core.http import HealthServer
from driftwarden.core.notify import NotificationDispatcher
from driftwarden.retrain.audit_head import HeadPublisher
from driftwarden.retrain.errors import RegistryError
from driftwarden.retrain.governance import Governance
from driftwarden.retrain.metrics import RegistryCollector, WorkerMetrics
from driftwarden.retrain.registry_backend import open_registry
from driftwarden.retrain.run import RetrainJob, RunOutcome, audit_log
from driftwarden.retrain.settings import RetrainSettings

__all__ = ["RetrainWorker", "fire_schedule", "run_request"]

log = logging.getLogger(__name__)


def run_request(settings: RetrainSettings, request_json: bytes) -> RunOutcome:
    """Run one request to completion (in a pool process, or in the foreground)."""
    request = RetrainRequest.from_json(request_json)
    if settings.executor == "command":
        return _hand_off(settings, request, request_json)
    producer = KafkaProducer(**settings.producer_options)
    notifications = NotificationDispatcher(settings.notifiers)
    try:

        def publish(event: dict[str, Any]) -> None:
            producer.send(
                settings.events_topic, key=request.model.encode(), value=orjson.dumps(event)
            )
            notifications.submit(event)

        heads = HeadPublisher(settings.producer_options, settings.events_topic)
        return RetrainJob(settings, publish, on_audit=heads).run(request)
    finally:
        producer.flush()
        producer.close()
        notifications.close()  # sends what is queued, for at most 10s


def _hand_off(settings: RetrainSettings, request: RetrainRequest, raw: bytes) -> RunOutcome:
    """The ``command`` executor: the request JSON on stdin; the exit status decides."""
    started = time.time()
    done = subprocess.run(  # noqa: S603 - the operator's configured command, no shell
        list(settings.command),
        input=raw,
        capture_output=True,
        check=False,
        timeout=24 * 3600,
    )
    outcome = "completed" if done.returncode == 0 else "failed"
    error = None if done.returncode == 0 else done.stderr.decode(errors="replace")[-2000:]
    return RunOutcome(
        request.model, request.request_id, outcome, duration=time.time() - started, error=error
    )


class RetrainWorker:
    def __init__(
        self,
        settings: RetrainSettings,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.registry = registry or CollectorRegistry()
        self.metrics = WorkerMetrics(self.registry, sorted(settings.models))
        heads = HeadPublisher(settings.producer_options, settings.events_topic)
        self._audit = audit_log(settings, heads)
        self._clock = clock
        self._quiet_until: dict[str, float] = {}  # model -> end of its audit cooldown
        self._unaudited: dict[str, int] = {}  # model -> requests left out of the audit log
        self._registry = open_registry(settings)
        governance = Governance(self._registry, self._audit)
        self.registry.register(RegistryCollector(governance, sorted(settings.models)))
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.http: HealthServer | None = None
        self.scheduler = self._scheduler()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def idle(self) -> bool:
        """No run queued or in progress."""
        return not self._running and not self.scheduler.get_jobs(jobstore="runs")

    def stop(self) -> None:
        self._stop.set()

    def _clean_registry(self) -> None:
        """Remove what interrupted registrations left; a registry that cannot be reached now
        does not stop the worker (it tries again at the next start)."""
        try:
            removed = self._registry.cleanup()
        except RegistryError as exc:
            log.warning("cannot remove what interrupted registrations left: %s", exc)
            return
        for leftover in removed:
            log.info("removed %s, left by an interrupted registration", leftover)

    def run(self) -> None:
        self.http = HealthServer(
            self.registry,
            self.settings.http_host,
            self.settings.http_port,
            lambda: self.ready,
            tls=self.settings.http_tls,
            basic_auth=self.settings.http_basic_auth,
            max_connections=self.settings.http_max_connections,
            request_timeout=self.settings.http_request_timeout,
        ).start()
        self._clean_registry()
        self.start_scheduler()
        kafka_compat.install()  # a header key that is not UTF-8 must not stop the consumer
        consumer = KafkaConsumer(
            **self.settings.consumer_options,
            group_id=self.settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        consumer.subscribe([self.settings.requests_topic], listener=_ReadyOnAssignment(self._ready))
        try:
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        self.submit(record.value)
                    consumer.commit()
        finally:
            self._ready.clear()
            consumer.close()
            self.scheduler.shutdown(wait=True)
            self.http.stop()

    def start_scheduler(self) -> None:
        """Start the scheduler and (re)install the cron schedules from the config."""
        global _active  # noqa: PLW0603 - the one worker of this process fires the schedules
        _active = self
        self.scheduler.start()
        self._install_schedules()

    def submit(self, raw: bytes | None) -> bool:
        """Queue a run for a request; False when rejected, stale or coalesced into a pending run.

        Never raises: an error handling the message is logged and counted as rejected.
        """
        try:
            return self._submit(raw)
        except Exception:  # noqa: BLE001 - one message must never stop the consumer
            log.exception("a retrain request could not be handled; skipped")
            self.metrics.rejected.labels("error").inc()
            return False

    def _submit(self, raw: bytes | None) -> bool:
        try:
            request = RetrainRequest.from_json(raw or b"")
        except InvalidRequest as exc:
            log.warning("rejected a retrain request (%s): %s", exc.category, str(exc)[:300])
            self.metrics.rejected.labels(exc.category).inc()
            return False
        if request.model not in self.settings.models:
            log.warning(
                "rejected retrain request %s: no training config for model %r",
                request.request_id,
                request.model,
            )
            self.metrics.rejected.labels("unknown_model").inc()
            return False
        busy = self.scheduler.get_job(f"run:{request.model}") is not None
        busy = busy or request.model in self._running
        production = self._registry.production(request.model)
        stale = (
            request.version is not None
            and production is not None
            and production.version != request.version
        )
        self._audit_request(request, coalesced=busy, stale=stale)
        self.metrics.requests.labels(request.model, request.reason).inc()
        if stale:
            log.info(
                "request %s is about %s v%s, no longer in production; ignored",
                request.request_id,
                request.model,
                request.version,
            )
            return False
        if busy:
            log.info(
                "a run of %s is already queued; request %s coalesced into it",
                request.model,
                request.request_id,
            )
            return False
        self._running.add(request.model)
        self.scheduler.add_job(
            run_request,
            args=(self.settings, request.to_json()),
            id=f"run:{request.model}",
            executor="training",
            jobstore="runs",
            misfire_grace_time=None,
        )
        return True

    def _audit_request(self, request: RetrainRequest, *, coalesced: bool, stale: bool) -> None:
        """Audit a request; one that starts no run only once per model per cooldown."""
        model = request.model
        if coalesced or stale:
            now = self._clock()
            if now < self._quiet_until.get(model, float("-inf")):
                self._unaudited[model] = self._unaudited.get(model, 0) + 1
                return
            self._quiet_until[model] = now + self.settings.model(model).cooldown
        details = {
            "request_id": request.request_id,
            "reason": request.reason,
            "evidence": request.evidence,
            "coalesced": coalesced,
            "stale": stale,
            "unaudited": self._unaudited.pop(model, 0),
        }
        self._audit.append("retrain_requested", model, request.version, "driftwarden", details)

    def _scheduler(self) -> BackgroundScheduler:
        state = self.settings.state_dir / "worker"
        state.mkdir(parents=True, exist_ok=True)
        scheduler = BackgroundScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(url=f"sqlite:///{state / 'schedules.db'}"),
                "runs": MemoryJobStore(),
            },
            executors={
                "training": ProcessPoolExecutor(self.settings.max_workers),
                "default": ThreadPoolExecutor(1),
            },
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone="UTC",
        )
        scheduler.add_listener(self._finished, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self._running: set[str] = set()
        return scheduler

    def _install_schedules(self) -> None:
        wanted = {f"schedule:{m.name}": m for m in self.settings.models.values() if m.schedule}
        for job in self.scheduler.get_jobs(jobstore="default"):
            if job.id not in wanted:
                job.remove()
        for job_id, model in wanted.items():
            # Only the model name is stored: no settings (and so no secrets) in the job store.
            self.scheduler.add_job(
                fire_schedule,
                CronTrigger.from_crontab(str(model.schedule), timezone="UTC"),
                args=(model.name,),
                id=job_id,
                jobstore="default",
                executor="default",
                replace_existing=True,
                misfire_grace_time=3600,
                name=f"scheduled retrain of {model.name}",
            )

    def _finished(self, event: JobExecutionEvent) -> None:
        if not event.job_id.startswith("run:"):
            return
        model = event.job_id.split(":", 1)[1]
        self._running.discard(model)
        if event.exception is not None:
            log.error("retrain job %s crashed: %s", event.job_id, event.exception)
            outcome = RunOutcome(model, event.job_id, "failed", error=str(event.exception))
        else:
            outcome = event.retval
        self.metrics.finished(outcome, time.time())


_active: RetrainWorker | None = None


def fire_schedule(model: str) -> None:
    """A cron schedule fired: request a run like any other request (coalesced, audited)."""
    if _active is None:
        log.error("schedule of %s fired with no worker running", model)
        return
    _active.submit(RetrainRequest.new(model, None, "schedule", timestamp=time.time()).to_json())


class _ReadyOnAssignment(ConsumerRebalanceListener):
    """Ready once the worker's consumer has joined its group (runs on kafka's IO thread)."""

    def __init__(self, ready: threading.Event) -> None:
        self._ready = ready

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._ready.clear()

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._ready.set()
