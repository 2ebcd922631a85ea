"""The scikit-learn-only rebuild of a trained pipeline scores exactly as the original."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, Ridge

from driftwarden.retrain.features import make_pipeline
from driftwarden.retrain.serving_pipeline import (
    dict_scorer,
    frame_pipeline,
    scoring_feature_dicts,
    serving_types,
)


def rows(count: int, seed: int) -> list[dict[str, Any]]:
    """Feature dicts with numbers, texts, booleans, gaps, None, NaN and undeclared extras."""
    rng = random.Random(seed)  # noqa: S311 - data, not secrets
    made = []
    for _ in range(count):
        row: dict[str, Any] = {}
        if rng.random() < 0.8:
            row["x1"] = rng.choice([rng.gauss(0, 1), None, float("nan")] + [rng.gauss(0, 1)] * 5)
        if rng.random() < 0.9:
            row["plan"] = rng.choice(["free", "pro", "team"])
        if rng.random() < 0.7:
            row["flag"] = rng.random() < 0.5
        if rng.random() < 0.3:
            row["junk"] = rng.random()
        made.append(row)
    return made


TRAIN, TEST = rows(400, 1), [*rows(200, 2), {"plan": "enterprise", "x1": 1.0}, {}]
LABELS = [int((r.get("x1") or 0) > 0 or r.get("plan") == "pro") for r in TRAIN]


@pytest.mark.parametrize(
    ("estimator", "options"),
    [
        (LogisticRegression(), {}),
        (HistGradientBoostingClassifier(max_iter=20, random_state=0), {}),
        (LogisticRegression(), {"features": ("x1", "plan")}),
        (LogisticRegression(), {"max_columns": 3}),
    ],
)
def test_the_rebuild_scores_dicts_and_frames_as_the_original(
    estimator: Any, options: dict[str, Any]
) -> None:
    original = make_pipeline(estimator, **options).fit(TRAIN, LABELS)
    served = frame_pipeline(original)
    assert served is not None
    expected = original.predict_proba(TEST)
    frame = pd.DataFrame(TEST).reindex(columns=list(served.features))
    assert np.array_equal(served.pipeline.predict_proba(frame), expected)
    assert np.array_equal(dict_scorer(served).predict_proba(TEST), expected)
    names = sio.get_untrusted_types(data=sio.dumps(served.pipeline))
    own = set(sio.get_untrusted_types(data=sio.dumps(original)))  # the estimator's, the skeleton
    assert set(names) <= own | serving_types() and not any("driftwarden" in n for n in names)
    reloaded = scoring_feature_dicts(sio.loads(sio.dumps(served.pipeline), trusted=names))
    assert np.array_equal(reloaded.predict_proba(TEST), expected)


def test_what_cannot_be_rebuilt_is_left_alone() -> None:
    mixed = [{"x": 1.0}, {"x": "many"}, {"x": 3.0}]
    assert frame_pipeline(make_pipeline(Ridge()).fit(mixed, [1.0, 2.0, 3.0])) is None
    bare = Ridge().fit([[0.0], [1.0]], [0.0, 1.0])
    assert frame_pipeline(bare) is None
    assert scoring_feature_dicts(bare) is bare
