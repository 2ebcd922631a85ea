"""The demo's model server: scores applicants with the production version (followed through
:mod:`driftwarden.demo.models`), publishes predictions with their class scores, and publishes each
label ``label_delay`` applications (seconds of event time) later, as ground truth arrives in real
life."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from kafka import KafkaProducer

from driftwarden.contracts.inputs import Label, Prediction, serialize_label, serialize_prediction
from driftwarden.demo.models import ServedModels
from driftwarden.demo.world import Applicant

__all__ = ["ModelServer", "START"]

START = 1_795_600_000.0  # event time of the first application; one application per second


@dataclass
class ModelServer:
    models: ServedModels
    model: str
    producer: KafkaProducer
    predictions_topic: str
    labels_topic: str
    label_delay: int = 60  # applications between a prediction and its label
    correct: list[bool] = field(default_factory=list)
    served_by: list[str] = field(default_factory=list)
    _labels: deque[tuple[int, bytes, bytes]] = field(default_factory=deque)

    def serve(self, start: int, applicants: list[Applicant]) -> None:
        """Score a chunk with the current production version and publish it."""
        version = self.models.production()
        predictions, scores = self.models.predict([a.features for a in applicants])
        for offset, (applicant, predicted, score) in enumerate(
            zip(applicants, predictions, scores, strict=True)
        ):
            index = start + offset
            pid = f"loan-{index:07d}"
            self.producer.send(
                self.predictions_topic,
                key=pid.encode(),
                value=serialize_prediction(
                    Prediction(
                        prediction_id=pid,
                        model=self.model,
                        version=version,
                        timestamp=START + index,
                        features=dict(applicant.features),
                        prediction=int(predicted),
                        scores=score,
                    )
                ),
            )
            self.correct.append(int(predicted) == applicant.approved)
            self.served_by.append(version)
            self._labels.append(
                (
                    index + self.label_delay,
                    pid.encode(),
                    serialize_label(
                        Label(pid, self.model, applicant.approved, START + index + self.label_delay)
                    ),
                )
            )
        self._release(start + len(applicants))

    def finish(self) -> None:
        self._release(None)
        self.producer.flush()

    def _release(self, until: int | None) -> None:
        while self._labels and (until is None or self._labels[0][0] <= until):
            _, key, value = self._labels.popleft()
            self.producer.send(self.labels_topic, key=key, value=value)


def pace(started: float, done: int, rate: float) -> None:
    """Sleep so that ``done`` events take ``done / rate`` seconds since ``started``."""
    ahead = started + done / rate - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
