"""Generated bad (and good) input messages, shared by the property test and the broker fuzz run.

Every message is built from a valid one with exactly one defect, so the reason it must be
dead-lettered with is known in advance (``expected``); ``None`` means it must be applied, unless
it turns out to be a duplicate, which :class:`DuplicateOracle` decides independently of the code
under test.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

BASE_TIME = 1_795_600_000.0  # event time of the first valid message, epoch seconds
MODELS = ("churn", "reg")  # a binary and a regression model, as in :func:`models_config`
FUTURE_TOLERANCE = 3600.0

# category -> reason; None: valid (applied unless a duplicate)
CATEGORIES: dict[str, str | None] = {
    "valid": None,
    "valid_extreme": None,  # huge/tiny numbers, huge ints, unicode, extra fields, deep extras
    "valid_past": None,  # far in the past, but after 1970
    "invalid_utf8": "invalid_json",
    "not_json": "invalid_json",
    "nan": "invalid_json",
    "infinity": "invalid_json",
    "huge_float": "invalid_json",
    "empty": "invalid_json",
    "tombstone": "invalid_json",
    "too_deep": "invalid_json",
    "not_object": "schema_violation",
    "bad_schema": "schema_violation",
    "missing_field": "schema_violation",
    "wrong_type": "schema_violation",
    "millis_timestamp": "schema_violation",
    "nested_feature": "unknown_feature_type",
    "unknown_model": "unknown_model",
    "before_1970": "timestamp_out_of_range",
    "far_future": "timestamp_out_of_range",
    "ahead_of_kafka": "timestamp_out_of_range",
    "too_large": "message_too_large",
    "too_many_features": "too_many_features",  # one more than models[].max_features (1000)
    "id_too_long": "id_too_long",  # an id of more than 256 bytes of UTF-8
}
BAD = tuple(name for name, reason in CATEGORIES.items() if reason is not None)
GOOD = tuple(name for name, reason in CATEGORIES.items() if reason is None)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str  # "predictions" or "labels"
    partition: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    kafka_ms: int  # the record's Kafka timestamp
    expected: str | None  # reason, or None: applied (unless the oracle finds a duplicate)
    model: str | None  # for valid messages: the model, for the duplicate oracle
    prediction_id: str | None


def models_config(max_pending: int) -> list[dict[str, Any]]:
    return [
        {
            "name": "churn",
            "task": "binary",
            "positive_label": 1,
            "features": {"tenure": "numeric", "plan": "categorical"},
            "label_ttl": "100s",
            "window": 50,
            "max_pending": max_pending,
            "future_tolerance": FUTURE_TOLERANCE,
            "drift": {"window": 50, "every": 10},
        },
        {
            "name": "reg",
            "task": "regression",
            "label_ttl": "100s",
            "window": 20,
            "max_pending": max_pending,
            "future_tolerance": FUTURE_TOLERANCE,
        },
    ]


def valid_doc(topic: str, model: str, pid: str, ts: float, rng: random.Random) -> dict[str, Any]:
    if topic == "labels":
        label: Any = rng.gauss(10, 3) if model == "reg" else rng.choice([0, 1, True, "1", 0.0])
        return {"prediction_id": pid, "model": model, "label": label, "timestamp": ts}
    prediction: Any = rng.gauss(10, 3) if model == "reg" else rng.choice([0, 1, "0", False])
    score = rng.random()
    return {
        "schema": 1,
        "prediction_id": pid,
        "model": model,
        "model_version": rng.choice(["1", "1", "1", 2]),
        "timestamp": ts,
        "features": {"tenure": rng.gauss(24, 8), "plan": rng.choice(["basic", "pro", None])},
        "prediction": prediction,
        "scores": {"0": 1 - score, "1": score},
    }


def _extreme(doc: dict[str, Any], topic: str, model: str, rng: random.Random) -> dict[str, Any]:
    big = rng.choice([1e150, -1e150, 2**64 - 1, -(2**63), 5e-324, 0])
    huge = rng.choice([1e308, -1e308, 1.7e308])  # fine as a feature, not as a regression target
    doc["extra"] = {"nested": _nest(rng.randint(1, 200)), "text": "\u00e9\u4e2d\U0001f600\x00"}
    if rng.random() < 0.5:
        doc["timestamp"] = "2026-11-25T08:26:40.5+14:00"
    if topic == "predictions":
        doc["features"] = {"tenure": huge, "plan": "x" * rng.randint(0, 300), "flag": True}
        doc["model_version"] = 2**63
        if model == "reg":
            doc["prediction"] = big
    elif model == "reg":
        doc["label"] = big
    else:
        doc["label"] = rng.choice([2**64 - 1, "\u00e9", -1.5])
    return doc


def _with_raw(raw: bytes, field: str, value: bytes) -> bytes:
    """``raw`` (a JSON object) with ``field`` set to the raw JSON ``value`` (duplicate keys:
    the last one wins)."""
    return raw[:-1] + b',"' + field.encode() + b'":' + value + b"}"


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _defect(category: str, doc: dict[str, Any], topic: str, rng: random.Random) -> Any:
    """A document (or raw bytes) with exactly the defect of ``category``."""
    raw = orjson.dumps(doc)
    if category == "invalid_utf8":
        cut = rng.randint(0, len(raw))
        return raw[:cut] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]) + raw[cut:]
    if category == "not_json":
        return rng.choice([b"{", b"{'a': 1}", b"prediction", raw[:-1], raw + b"}", b'{"a" 1}'])
    if category in ("nan", "infinity", "huge_float"):
        token = {"nan": b"NaN", "infinity": b"-Infinity", "huge_float": b"1e400"}[category]
        field = rng.choice([b'"timestamp"', b'"prediction_id"', b'"model"'])
        return raw.replace(field + b":", field + b":" + token + b',"was":', 1)
    if category == "empty":
        return b""
    if category == "tombstone":
        return None
    if category == "too_deep":
        return _with_raw(raw, "extra", b"[" * 1100 + b"1" + b"]" * 1100)
    if category == "not_object":
        return rng.choice([b"[]", b"[1, 2]", b"1", b'"text"', b"null", b"true"])
    if category == "bad_schema":
        return {**doc, "schema": rng.choice([2, "1", True, 0, None])}
    if category == "missing_field":
        required = ["prediction_id", "model", "timestamp"]
        required += (
            ["model_version", "features", "prediction"] if topic == "predictions" else ["label"]
        )
        field = rng.choice(required)
        return {k: v for k, v in doc.items() if k != field}
    if category == "wrong_type":
        return _wrong_type(doc, topic, rng)
    if category == "millis_timestamp":
        return {**doc, "timestamp": BASE_TIME * 1000}
    if category == "nested_feature":
        if topic == "labels":  # labels have no features: a wrong type of label instead
            return {**doc, "label": rng.choice([[1], {"a": 1}])}
        if rng.random() < 0.3:  # deeper than orjson writes, not deeper than it reads
            return _with_raw(raw, "features", b'{"x":' + b"[" * 900 + b"]" * 900 + b"}")
        return {**doc, "features": {"tenure": rng.choice([[1.0], {"a": {"b": 1}}, _nest(200)])}}
    if category == "unknown_model":
        return {**doc, "model": rng.choice(["fraud", "Churn", "churn ", "\u00e9"])}
    if category == "before_1970":
        return {
            **doc,
            "timestamp": rng.choice([-1, -1e10, "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"]),
        }
    if category == "far_future":
        return {
            **doc,
            "timestamp": rng.choice(["9999-12-31T23:59:59Z", "6000-01-01T00:00:00+01:00"]),
        }
    raise AssertionError(category)


def _wrong_type(doc: dict[str, Any], topic: str, rng: random.Random) -> dict[str, Any]:
    choices: list[tuple[str, Any]] = [
        ("prediction_id", rng.choice([7, "", [], {"a": 1}, True])),
        ("model", rng.choice([1, "", ["churn"]])),
        ("timestamp", rng.choice([True, [1], {}, "soon", "2026-11-26T03:00:00", ""])),
    ]
    if topic == "predictions":
        choices += [
            ("model_version", rng.choice([True, 1.5, [], "", {}])),
            ("features", rng.choice([[1, 2], "tenure", 3])),
            ("prediction", rng.choice([[1], {"a": 1}])),
            ("scores", rng.choice([[0.5], "high", {"1": "high"}, {"1": True}, {"1": None}])),
        ]
    else:
        choices.append(("label", rng.choice([[1], {"a": 1}])))
    if doc["model"] == "reg":  # regression targets: numbers of magnitude up to 1e150
        target = "prediction" if topic == "predictions" else "label"
        choices.append((target, rng.choice([1e308, -1e200, 2.0**600, "12.5", True])))
    field, value = rng.choice(choices)
    return {**doc, field: value}


def generate(
    rng: random.Random,
    count: int,
    partitions: int,
    ids: int,
    bad_ratio: float,
    too_large: int,
    base_ms: int,
    bad: tuple[str, ...] = BAD,
) -> list[Message]:
    """``count`` messages over both topics; ids drawn from a pool of ``ids`` (duplicates), bad
    ones (share ``bad_ratio``) of the kinds ``bad``."""
    messages = []
    for i in range(count):
        category = rng.choice(bad) if rng.random() < bad_ratio else rng.choice(GOOD)
        messages.append(message(rng, category, i, partitions, ids, too_large, base_ms))
    return messages


def message(
    rng: random.Random,
    category: str,
    i: int,
    partitions: int,
    ids: int,
    too_large: int,
    base_ms: int,
    pair: tuple[str, str, int] | None = None,
) -> Message:
    """Message number ``i``, of ``category``; ``pair``: its topic, model and id number, else
    drawn at random."""
    topic, model, number = pair or (
        rng.choice(["predictions", "labels"]),
        rng.choice(MODELS),
        rng.randrange(ids),
    )
    pid = f"p-{number}"
    partition = int(pid[2:]) % partitions
    ts = BASE_TIME + i + rng.uniform(-50, 50)
    kafka_ms = base_ms + i * 1000  # one message a second, in Kafka time as in event time
    doc = valid_doc(topic, model, pid, ts, rng)
    value: Any = doc
    if category == "valid_extreme":
        value = _extreme(doc, topic, model, rng)
    elif category == "valid_past":
        value = {**doc, "timestamp": rng.choice([0, 86400.5, "1971-01-01T00:00:00-05:00"])}
    elif category == "ahead_of_kafka":
        kafka_ms = int((ts - FUTURE_TOLERANCE - rng.uniform(1, 1e6)) * 1000)
    elif category == "too_large":
        value = {**doc, "padding": "x" * (too_large + rng.randint(0, 1000))}
    elif category == "too_many_features" and topic == "predictions":
        value = {**doc, "features": {str(j): 0 for j in range(1001 + rng.randint(0, 20))}}
    elif category in ("id_too_long", "too_many_features"):  # labels have no features
        fields = ["prediction_id", "model"] + (["model_version"] if topic == "predictions" else [])
        long_id = rng.choice(["x" * rng.randint(257, 5000), "\u00e9" * 129, "\U0001f600" * 65])
        value = {**doc, rng.choice(fields): long_id}
    elif category not in GOOD:
        value = _defect(category, doc, topic, rng)
    if isinstance(value, dict):
        value = orjson.dumps(value)
    headers = _headers(rng)
    key = pid.encode() if rng.random() < 0.9 else rng.choice([None, b"\xff\xfe", b""])
    if value is None and key is None:
        key = pid.encode()  # a record needs a key or a value
    expected = CATEGORIES[category]
    if category == "nested_feature" and topic == "labels":
        expected = "schema_violation"  # a label that is a list or an object
    if category == "too_many_features" and topic == "labels":
        expected = "id_too_long"
    valid = expected is None
    return Message(
        topic, partition, key, value, headers, kafka_ms, expected,
        model if valid else None, pid if valid else None,
    )  # fmt: skip


class RawKey(str):
    """A header key that the producer writes as bytes that are not UTF-8."""

    def encode(self, *args: object, **kwargs: object) -> bytes:
        return b"\xff\xfe-key"


def _headers(rng: random.Random) -> list[tuple[str, bytes]]:
    choices = [
        ("trace", b"abc"),
        ("binary", bytes([0xFF, 0xFE, 0x00, 0x80])),
        ("error", b"forged"),  # collides with the dead letter's own header
        ("source-offset", b"-1"),
        ("\u00e9t\u00e9", "\u4e2d".encode()),
        (RawKey("raw"), b"not a UTF-8 key"),  # read back as "\ufffd\ufffd-key"
    ]
    return rng.sample(choices, rng.randint(0, 3))


class DuplicateOracle:
    """Which valid messages are duplicates: an id already seen among the last ``memory``
    applied messages of the same side, model and partition (or still waiting, which the bound
    below always covers when ``memory`` >= the waiting items' bound)."""

    def __init__(self, memory: int) -> None:
        self._memory = memory
        self._seen: dict[tuple[str, int, str], OrderedDict[str, None]] = {}

    def reason(self, message: Message) -> str | None:
        if message.expected is not None or message.model is None or message.prediction_id is None:
            return message.expected
        side = self._seen.setdefault(
            (message.topic, message.partition, message.model), OrderedDict()
        )
        if message.prediction_id in side:
            return "duplicate_prediction" if message.topic == "predictions" else "duplicate_label"
        side[message.prediction_id] = None
        if len(side) > self._memory:
            side.popitem(last=False)
        return None
