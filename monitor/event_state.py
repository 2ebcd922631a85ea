"""State encoding of the prediction and label events a join holds (see :mod:`.codec`).

The events are the wire contract's (:mod:`driftwarden.contracts.inputs`); how the monitor
checkpoints them is its own, so the encoding lives here.

>>> from driftwarden.contracts.inputs import Label
>>> label = Label("p-1", "churn", True, 60.0)
>>> label_to_state(label)
['p-1', 'churn', True, 60.0]
>>> label_from_state(label_to_state(label)) == label
True
"""

from __future__ import annotations

from driftwarden.contracts.inputs import Label, Prediction, Target
from driftwarden.monitor.codec import (
    StateDecodeError,
    decode_scalar,
    encode_float,
    encode_scalar,
    need_dict,
    need_float,
    need_list,
    need_str,
)

__all__ = ["label_from_state", "label_to_state", "prediction_from_state", "prediction_to_state"]


def prediction_to_state(prediction: Prediction) -> list[object]:
    features = {name: encode_scalar(value) for name, value in prediction.features.items()}
    scores = prediction.scores
    return [
        prediction.prediction_id,
        prediction.model,
        prediction.version,
        encode_float(prediction.timestamp),
        features,
        encode_scalar(prediction.prediction),
        None if scores is None else {c: encode_float(v) for c, v in scores.items()},
    ]


def prediction_from_state(doc: object) -> Prediction:
    pid, model, version, timestamp, features, prediction, scores = need_list(doc, "prediction", 7)
    return Prediction(
        need_str(pid, "prediction id"),
        need_str(model, "prediction model"),
        need_str(version, "prediction version"),
        need_float(timestamp, "prediction timestamp"),
        {
            need_str(name, "feature name"): decode_scalar(value, "feature value")
            for name, value in need_dict(features, "features").items()
        },
        _decoded_target(prediction, "prediction"),
        None
        if scores is None
        else {c: need_float(v, "score") for c, v in need_dict(scores, "scores").items()},
    )


def label_to_state(label: Label) -> list[object]:
    label_value, timestamp = encode_scalar(label.label), encode_float(label.timestamp)
    return [label.prediction_id, label.model, label_value, timestamp]


def label_from_state(doc: object) -> Label:
    pid, model, label, timestamp = need_list(doc, "label", 4)
    return Label(
        need_str(pid, "label prediction id"),
        need_str(model, "label model"),
        _decoded_target(label, "label"),
        need_float(timestamp, "label timestamp"),
    )


def _decoded_target(value: object, what: str) -> Target:
    target = decode_scalar(value, what)
    if target is None:
        raise StateDecodeError(f"{what} must be a class or a number")
    return target
