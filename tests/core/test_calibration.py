"""Calibration: isotonic maps fitted on reference scores, stored as breakpoints, read safely."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from driftwarden.core.calibration import MAX_BREAKPOINTS, Calibration
from driftwarden.core.errors import ProfileError


def _overconfident_binary(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose true positive rate is score**2: a model that is overconfident."""
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    labels = (rng.random(n) < score**2).astype(int)
    return np.column_stack([1 - score, score]), labels


def test_binary_calibration_corrects_overconfident_scores() -> None:
    scores, labels = _overconfident_binary(20_000, seed=1)
    calibration = Calibration.fit(scores, labels, ["0", "1"])
    probe = np.array([[0.5, 0.5], [0.1, 0.9]])
    calibrated = calibration.apply(probe)
    assert calibrated[:, 1] == pytest.approx([0.25, 0.81], abs=0.05)
    assert calibrated.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert len(calibration.maps) == 1


def test_multiclass_rows_sum_to_one_and_follow_the_labels() -> None:
    rng = np.random.default_rng(2)
    truth = rng.dirichlet([1, 1, 1], 6000)
    labels = np.array([rng.choice(3, p=row) for row in truth])
    raw = truth**3 / (truth**3).sum(axis=1, keepdims=True)  # sharpened: overconfident
    calibration = Calibration.fit(raw, labels, ["a", "b", "c"])
    calibrated = calibration.apply(raw)
    assert len(calibration.maps) == 3
    assert calibrated.sum(axis=1) == pytest.approx(np.ones(6000))
    # Calibrated probabilities of the predicted class match its hit rate; raw ones overstate it.
    chosen = raw.argmax(axis=1)
    hits = (chosen == labels).mean()
    assert calibrated[np.arange(6000), chosen].mean() == pytest.approx(hits, abs=0.02)
    assert raw[np.arange(6000), chosen].mean() > hits + 0.05


def test_document_round_trip_is_plain_json_and_bounded() -> None:
    scores, labels = _overconfident_binary(50_000, seed=3)
    calibration = Calibration.fit(scores, labels, ["no", "yes"])
    doc = json.loads(json.dumps(calibration.to_doc(), allow_nan=False))
    assert len(doc["maps"][0]["scores"]) <= MAX_BREAKPOINTS
    restored = Calibration.from_doc(doc)
    assert restored == calibration
    assert np.array_equal(restored.apply(scores[:100]), calibration.apply(scores[:100]))


def _valid() -> dict:
    return {
        "method": "isotonic",
        "classes": ["0", "1"],
        "maps": [{"scores": [0.1, 0.5, 0.9], "probabilities": [0.0, 0.4, 1.0]}],
    }


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d.update(method="pickle"), "calibration.method"),
        (lambda d: d.update(classes=["0", "0"]), "calibration.classes"),
        (lambda d: d.update(classes="01"), "calibration.classes"),
        (lambda d: d.update(maps=[]), "calibration.maps"),
        (lambda d: d["maps"][0].update(scores=[0.1, math.inf, 0.9]), "calibration.maps[0].scores"),
        (lambda d: d["maps"][0].update(scores=[0.9, 0.5, 0.1]), "calibration.maps[0].scores"),
        (lambda d: d["maps"][0].update(scores=[0.1, "x", 0.9]), "calibration.maps[0].scores"),
        (lambda d: d["maps"][0].update(probabilities=[0.5, 0.4, 1.0]), "maps[0].probabilities"),
        (lambda d: d["maps"][0].update(probabilities=[0.0, 0.4, 1.5]), "maps[0].probabilities"),
        (lambda d: d["maps"][0].update(probabilities=[0.0, 1.0]), "maps[0].probabilities"),
        (
            lambda d: d["maps"][0].update(
                scores=list(range(MAX_BREAKPOINTS + 1)), probabilities=[0.5] * (MAX_BREAKPOINTS + 1)
            ),
            "calibration.maps[0].scores",
        ),
        (lambda d: d.update(maps=["x"]), "calibration.maps[0]"),
    ],
)
def test_hostile_documents_are_refused_naming_the_field(change, named) -> None:
    doc = _valid()
    Calibration.from_doc(doc)  # the unchanged document is fine
    change(doc)
    with pytest.raises(ProfileError, match=named.replace("[", r"\[").replace("]", r"\]")):
        Calibration.from_doc(doc)


def test_a_profile_built_from_a_file_records_the_calibration_and_reads_it_back(
    tmp_path,
) -> None:
    from driftwarden.core.profile_build import build_profile_from_file
    from driftwarden.core.profile_json import load_profile, save_profile

    scores, labels = _overconfident_binary(4000, seed=7)
    rows = ["tenure,p_churn,churned"] + [
        f"{i % 50},{s:.6f},{y}" for i, (s, y) in enumerate(zip(scores[:, 1], labels, strict=True))
    ]
    table = tmp_path / "train.csv"
    table.write_text("\n".join(rows) + "\n")
    profile = build_profile_from_file("churn", table, label="churned", scores={"1": "p_churn"})
    assert "p_churn" not in profile.features
    assert profile.calibration is not None and profile.calibration.classes == ("0", "1")
    restored = load_profile(save_profile(profile, tmp_path / "profile.json"))
    assert restored.calibration == profile.calibration
    assert restored.calibration.apply(np.array([[0.5, 0.5]]))[0, 1] == pytest.approx(0.25, abs=0.07)


def test_a_profile_with_a_hostile_calibration_is_refused_naming_file_and_key(tmp_path) -> None:
    from driftwarden.core.profile import build_profile
    from driftwarden.core.profile_json import load_profile

    doc = build_profile("churn", {"tenure": [1.0, 2.0]}).to_dict()
    assert "calibration" not in doc  # profiles without one keep their old document
    doc["calibration"] = _valid()
    doc["calibration"]["maps"][0]["probabilities"] = [0.0, float("nan"), 1.0]
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ProfileError, match=r"profile.json: calibration.maps\[0\].probabilities"):
        load_profile(path)


def test_a_multiclass_table_needs_a_score_column_per_class() -> None:
    from driftwarden.core.calibration import calibration_from_columns

    with pytest.raises(ProfileError, match="no score column"):
        calibration_from_columns(["a", "b", "c"], {"a": [0.5, 0.2, 0.1], "b": [0.5, 0.8, 0.9]})


def test_profile_build_records_the_calibration_of_score_columns(tmp_path, capsys) -> None:
    from driftwarden.cli import main

    scores, labels = _overconfident_binary(2000, seed=8)
    table = tmp_path / "train.csv"
    rows = [
        f"{i % 7},{s:.5f},{y}" for i, (s, y) in enumerate(zip(scores[:, 1], labels, strict=True))
    ]
    table.write_text("tenure,p_churn,churned\n" + "\n".join(rows) + "\n")
    out = tmp_path / "profile.json"
    build = ["profile", "build", "--model", "churn", "--data", str(table), "--label", "churned"]
    assert main([*build, "--score", "1=p_churn", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["calibration"]["classes"] == ["0", "1"] and set(doc["features"]) == {"tenure"}
    assert main([*build, "--score", "p_churn", "--out", str(out)]) != 0
    assert "CLASS=COLUMN" in capsys.readouterr().err
