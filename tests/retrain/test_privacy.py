"""The PII scrubber (driftwarden.core.privacy) and the retraining side's tables: no raw PII is
kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from driftwarden.core.privacy import (
    PSEUDONYM_PREFIX,
    PiiPolicy,
    check_pii_settings,
    pseudonym,
    scrub_columns,
    scrub_features,
)
from driftwarden.core.profile import CategoricalProfile
from driftwarden.core.profile_build import build_profile_from_file
from driftwarden.retrain.dataset import parse_example, read_base_table

KEY = b"k" * 32
EMAIL = "zelda.pii@example.org"
PII = frozenset({"email", "user_id"})


def test_a_pseudonym_is_stable_per_key_and_differs_between_keys() -> None:
    first = pseudonym(EMAIL, KEY)
    assert first == pseudonym(EMAIL, KEY)
    assert first != pseudonym(EMAIL, b"j" * 32)
    assert first != pseudonym("zelda.pii@example.com", KEY)
    assert first.startswith(PSEUDONYM_PREFIX) and len(first) == len(PSEUDONYM_PREFIX) + 32
    assert EMAIL not in first


def test_drop_removes_pii_features_and_keeps_the_others() -> None:
    features = {"email": EMAIL, "user_id": 991, "tenure": 3.0, "plan": "pro"}
    scrubbed = scrub_features(features, PiiPolicy(PII))
    assert scrubbed == {"tenure": 3.0, "plan": "pro"}
    assert features["email"] == EMAIL  # the input is not changed


def test_hash_replaces_pii_values_and_keeps_missing_ones_missing() -> None:
    policy = PiiPolicy(PII, "hash", KEY)
    scrubbed = scrub_features({"email": EMAIL, "user_id": None, "tenure": 3.0}, policy)
    assert scrubbed == {"email": pseudonym(EMAIL, KEY), "user_id": None, "tenure": 3.0}


def test_hash_names_numbers_canonically() -> None:
    policy = PiiPolicy(PII, "hash", KEY)
    as_int = scrub_features({"user_id": 991}, policy)["user_id"]
    assert as_int == scrub_features({"user_id": 991.0}, policy)["user_id"]
    assert as_int == scrub_features({"user_id": "991"}, policy)["user_id"]


def test_hash_mode_needs_a_key() -> None:
    with pytest.raises(ValueError, match="privacy.hash_key"):
        PiiPolicy(PII, "hash")


def test_the_key_is_not_in_the_policy_repr() -> None:
    assert "k" * 32 not in repr(PiiPolicy(PII, "hash", KEY))


def test_scrub_columns_handles_numpy_columns() -> None:
    columns = {
        "user_id": np.array([991.0, np.nan, 992.0]),
        "email": [EMAIL, None, "b@example.org"],
        "tenure": np.array([1.0, 2.0, 3.0]),
    }
    hashed = scrub_columns(columns, PiiPolicy(PII, "hash", KEY))
    assert hashed["user_id"] == [pseudonym("991", KEY), None, pseudonym("992", KEY)]
    assert hashed["email"] == [pseudonym(EMAIL, KEY), None, pseudonym("b@example.org", KEY)]
    assert hashed["tenure"] is columns["tenure"]
    assert set(scrub_columns(columns, PiiPolicy(PII))) == {"tenure"}


@pytest.mark.parametrize(
    ("mode", "kwargs", "message"),
    [
        ("drop", {"features": {"email": "categorical"}}, "features.email: 'email' is listed"),
        ("drop", {"features": {}, "drift_overrides": ["email"]}, "drift.features.overrides"),
        ("drop", {"features": {}, "gate_features": ["user_id"]}, "training.gate"),
        ("hash", {"features": {"user_id": "numeric"}}, "declare it 'categorical'"),
    ],
)
def test_contradicting_settings_are_refused(
    mode: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check_pii_settings(["email", "user_id"], mode, **kwargs)  # type: ignore[arg-type]


def test_hashed_features_may_be_declared_categorical_and_gated_on() -> None:
    check_pii_settings(
        ["email"], "hash", features={"email": "categorical"}, gate_features=["email"]
    )


def test_reserved_names_are_not_pii_features() -> None:
    with pytest.raises(ValueError, match="not a feature name"):
        check_pii_settings(["__label__"], "drop", features={})


def _table(path: Path) -> Path:
    rows = [
        f"{EMAIL if i == 0 else f'u{i}@example.org'},{73519020 + i},{i % 5},{i % 2}"
        for i in range(40)
    ]
    path.write_text("email,user_id,tenure,label\n" + "\n".join(rows) + "\n")
    return path


def test_base_tables_lose_their_pii_columns_as_they_are_read(tmp_path: Path) -> None:
    path = _table(tmp_path / "base.csv")
    dropped, _ = read_base_table(path, "label", PiiPolicy(PII))
    assert set(dropped[0].features) == {"tenure"}
    hashed, _ = read_base_table(path, "label", PiiPolicy(PII, "hash", KEY))
    assert hashed[0].features["email"] == pseudonym(EMAIL, KEY)
    assert hashed[0].features["user_id"] == pseudonym(73519020, KEY)


@pytest.mark.parametrize("mode", ["drop", "hash"])
def test_profiles_hold_no_raw_pii(tmp_path: Path, mode: str) -> None:
    path = _table(tmp_path / "train.csv")
    policy = PiiPolicy(PII, mode, KEY if mode == "hash" else None)  # type: ignore[arg-type]
    profile = build_profile_from_file("churn", path, label="label", pii=policy)
    text = json.dumps(profile.to_dict())
    assert EMAIL not in text and "u1@example.org" not in text and "7351902" not in text
    if mode == "drop":
        assert set(profile.features) == {"tenure"}
    else:
        email, user_id = profile.features["email"], profile.features["user_id"]
        assert isinstance(email, CategoricalProfile) and isinstance(user_id, CategoricalProfile)
        assert pseudonym(EMAIL, KEY) in email.categories


def test_scrubbing_twice_is_scrubbing_once() -> None:
    policy = PiiPolicy(PII, "hash", KEY)
    once = scrub_features({"email": EMAIL, "tenure": 1}, policy)
    assert scrub_features(once, policy) == once
    assert scrub_features(scrub_features({"email": EMAIL}, PiiPolicy(PII)), PiiPolicy(PII)) == {}


def test_examples_published_before_pii_was_configured_are_scrubbed_when_read() -> None:
    record = (
        b'{"schema": 1, "prediction_id": "p-1", "model": "churn", "model_version": "1",'
        b' "features": {"email": "' + EMAIL.encode() + b'", "tenure": 2.0}, "prediction": 1,'
        b' "scores": null, "label": 1, "prediction_timestamp": 1, "label_timestamp": 2}'
    )
    dropped = parse_example(record, PiiPolicy(PII))
    assert dict(dropped.features) == {"tenure": 2.0}
    hashed = parse_example(record, PiiPolicy(PII, "hash", KEY))
    assert hashed.features["email"] == pseudonym(EMAIL, KEY)
