"""PII settings and the monitor's scrubbing of predictions and dead letters (no broker)."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftwarden.config import MonitorConfig, parse_config
from driftwarden.core.errors import ConfigError
from driftwarden.core.privacy import PiiPolicy, pseudonym
from driftwarden.core.profile import CategoricalProfile
from driftwarden.monitor.privacy import REDACTED, PrivacyGuard
from driftwarden.monitor.processor import StreamProcessor
from driftwarden.monitor.state import MonitorState
from tests.monitor.harness import Record

KEY = "s3cret-pii-key-for-tests-0123456789"
EMAIL = "yolanda.pii@example.net"
USER_ID = 48213977


def _config(mode: str = "drop", key: object = KEY, **model: Any) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": "churn",
                "task": "binary",
                "positive_label": 1,
                "features": {"tenure": "numeric"},
                "pii": ["email", "user_id"],
                "pii_mode": mode,
                **model,
            }
        ],
        "privacy": {"hash_key": key},
    }


def _errors(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


def test_hash_mode_without_a_key_names_both_keys() -> None:
    data = _config("hash")
    del data["privacy"]
    message = _errors(data)
    assert "models.0.pii_mode is 'hash' but privacy.hash_key is not set" in message


def test_a_short_key_is_refused() -> None:
    assert "privacy.hash_key: must be at least 16 bytes" in _errors(_config("hash", "short"))


def test_a_dropped_feature_cannot_be_monitored_or_gated_on() -> None:
    message = _errors(_config(features={"tenure": "numeric", "email": "categorical"}))
    assert "models.0: features.email: 'email' is listed in 'pii' with pii_mode 'drop'" in message
    gated = _config(training={"gate": {"segments": {"by": "user_id"}}})
    assert "training.gate: 'user_id' is listed in 'pii'" in _errors(gated)


def test_a_hashed_feature_must_be_categorical() -> None:
    message = _errors(_config("hash", features={"email": "numeric"}))
    assert "features.email: 'email' is hashed" in message


def test_the_key_comes_from_the_environment_and_is_masked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DW_PII_KEY", KEY)
    config = parse_config(_config("hash", {"env": "DW_PII_KEY"}))
    assert config.privacy.hash_key is not None
    assert config.privacy.hash_key.get_secret_value() == KEY
    assert KEY not in str(config.model_dump(mode="json")) and KEY not in repr(config)
    (tmp_path / "key").write_text(KEY + "\n")
    from_file = parse_config(_config("hash", {"file": str(tmp_path / "key")}))
    policy = from_file.pii_policy(from_file.models[0])
    assert policy is not None and policy.key == KEY.encode()


def _guard(mode: str = "drop") -> PrivacyGuard:
    return PrivacyGuard.from_config(parse_config(_config(mode)))


def _letter(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)


def test_dead_letters_of_a_drop_model_are_redacted_at_any_depth() -> None:
    doc = {
        "model": "churn",
        "email": EMAIL,
        "features": {"email": EMAIL, "user_id": [USER_ID], "tenure": "x"},
        "extra": [{"user_id": USER_ID}],
    }
    detail = f"feature 'user_id' has unsupported type list: {USER_ID} / {EMAIL!r}".encode()
    value, headers = _guard().dead_letter(
        _letter(doc), [("email", EMAIL.encode()), ("trace", b"t-1"), ("error-detail", detail)]
    )
    assert value is not None
    assert orjson.loads(value) == {
        "model": "churn",
        "email": REDACTED,
        "features": {"email": REDACTED, "user_id": REDACTED, "tenure": "x"},
        "extra": [{"user_id": REDACTED}],
    }
    assert ("trace", b"t-1") in headers and ("pii-redacted", b"fields") in headers
    assert all(name != "email" for name, _ in headers)
    assert EMAIL.encode() not in repr(headers).encode() and str(USER_ID) not in repr(headers)


def test_dead_letters_of_a_hash_model_carry_pseudonyms() -> None:
    value, _ = _guard("hash").dead_letter(
        _letter({"model": "churn", "features": {"email": EMAIL}}), []
    )
    assert value is not None
    assert orjson.loads(value)["features"]["email"] == pseudonym(EMAIL, KEY.encode())


def test_dead_letters_of_unknown_models_are_redacted_by_every_models_pii_names() -> None:
    value, _ = _guard("hash").dead_letter(
        _letter({"model": "nope", "features": {"email": EMAIL}}), []
    )
    assert value is not None and orjson.loads(value)["features"]["email"] == REDACTED


@pytest.mark.parametrize(
    "raw", [f'{{"email": "{EMAIL}"'.encode(), orjson.dumps([EMAIL]), orjson.dumps(EMAIL)]
)
def test_values_that_are_not_json_objects_are_replaced_whole(raw: bytes) -> None:
    value, headers = _guard().dead_letter(raw, [("error", b"invalid_json")])
    assert value is not None and EMAIL.encode() not in value
    assert orjson.loads(value)["sha256"] == hashlib.sha256(raw).hexdigest()
    assert headers == [("error", b"invalid_json"), ("pii-redacted", b"value")]


def test_dead_letters_without_pii_are_copied_unchanged() -> None:
    raw = b'{"model": "churn",  "features": {"tenure": 1}}'
    headers = [("error", b"schema_violation")]
    assert _guard().dead_letter(raw, headers) == (raw, headers)
    no_pii = PrivacyGuard({})
    assert no_pii.dead_letter(b"not json", headers) == (b"not json", headers)


def _categorical(*categories: str) -> CategoricalProfile:
    frequencies = (1 / (len(categories) + 1),) * (len(categories) + 1)
    return CategoricalProfile(
        count=10, missing_rate=0.0, categories=categories, frequencies=frequencies
    )


def test_dropped_pii_features_are_left_out_of_drift_checks() -> None:
    profile = {"email": _categorical("a@b.c"), "tenure": _categorical("1")}
    guard = PrivacyGuard({"churn": PiiPolicy(frozenset({"email"}))})
    assert guard.drift_features("churn", [], profile) == ["tenure"]
    assert guard.drift_features("churn", ["tenure"], profile) == ["tenure"]
    assert guard.drift_features("other", [], profile) is None


def test_hashed_pii_features_are_checked_only_against_pseudonyms(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = PrivacyGuard({"churn": PiiPolicy(frozenset({"email"}), "hash", b"k" * 16)})
    hashed = {"email": _categorical(pseudonym("a@b.c", b"k" * 16)), "tenure": _categorical("1")}
    assert guard.drift_features("churn", [], hashed) is None
    raw = {"email": _categorical("a@b.c"), "tenure": _categorical("1")}
    assert guard.drift_features("churn", ["email", "tenure"], raw) == ["tenure"]
    assert "churn feature 'email' is not checked" in caplog.text and "a@b.c" not in caplog.text


def _records(config: MonitorConfig) -> list[Record]:
    features = {"email": EMAIL, "user_id": USER_ID, "tenure": 3.0}
    pred = {"model": "churn", "model_version": "1", "timestamp": 10, "features": features}
    label = {"prediction_id": "p-1", "model": "churn", "label": 1, "timestamp": 20}
    topics = config.topics

    def prediction(offset: int, pid: str) -> Record:
        value = orjson.dumps({**pred, "prediction_id": pid, "prediction": 1})
        return Record(topics.predictions, 0, offset, None, value)

    return [
        prediction(0, "p-1"),
        prediction(1, "p-2"),
        prediction(2, "p-1"),  # duplicate_prediction: dead-lettered
        Record(topics.labels, 0, 0, None, orjson.dumps(label)),
        Record(topics.predictions, 0, 3, None, f'{{"features": {{"email": "{EMAIL}"'.encode()),
    ]


@pytest.mark.parametrize("mode", ["drop", "hash"])
def test_the_processor_keeps_and_sends_no_raw_pii(mode: str) -> None:
    config = parse_config(_config(mode))
    processor = StreamProcessor(config, MonitorState())
    out = processor.process(_records(config))
    assert len(out.examples) == 1 and len(out.dead_letters) == 2
    published = b"".join(
        (r.value or b"") + b"".join(v for _, v in r.headers)
        for r in [*out.examples, *out.dead_letters]
    )
    state = pickle.dumps(processor.state)
    for raw in (EMAIL.encode(), str(USER_ID).encode()):
        assert raw not in published and raw not in state
    features = orjson.loads(out.examples[0].value or b"")["features"]
    if mode == "drop":
        assert features == {"tenure": 3.0}
    else:
        assert features["email"] == pseudonym(EMAIL, KEY.encode())
        assert features["user_id"] == pseudonym(USER_ID, KEY.encode())


def test_profile_build_leaves_out_pii_columns_named_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from driftwarden.cli import main

    table = tmp_path / "train.csv"
    rows = [
        f"{EMAIL if i % 2 else 'other.pii@example.net'},{USER_ID + i},{i},{i % 2}"
        for i in range(30)
    ]
    table.write_text("email,user_id,tenure,label\n" + "\n".join(rows) + "\n")
    out = tmp_path / "profile.json"
    build = ["profile", "build", "--model", "churn", "--data", str(table), "--label", "label"]
    assert main([*build, "--pii", "email", "--pii", "user_id", "--out", str(out)]) == 0
    text = out.read_text()
    assert "example.net" not in text and str(USER_ID) not in text
    assert set(orjson.loads(text)["features"]) == {"tenure"}
    assert main([*build, "--out", str(out)]) == 0  # without --pii: the raw values are profiled
    assert EMAIL in out.read_text()
    capsys.readouterr()
