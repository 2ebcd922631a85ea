"""Reference profiles from training-data files (CSV or Parquet), read with pyarrow.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = Path(tmp) / "train.csv"
...     _ = path.write_text("tenure,plan,churned\\n1.5,pro,1\\n2.5,free,0\\n")
...     profile = build_profile_from_file("churn", path, label="churned", version="3")
>>> sorted(profile.features), profile.label.categories, profile.source["rows"]
(['plan', 'tenure'], ('0', '1'), 2)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]
import pyarrow.parquet as pa_parquet  # type: ignore[import-untyped]

from driftwarden.core.columns import Column
from driftwarden.core.errors import ProfileError
from driftwarden.core.privacy import PiiPolicy, scrub_columns
from driftwarden.core.profile import ReferenceProfile, build_profile

__all__ = ["build_profile_from_file", "read_table"]

_CSV_OPTIONS = pa_csv.ConvertOptions(strings_can_be_null=True)
_READERS: dict[str, Callable[[Path], Any]] = {
    ".csv": lambda path: pa_csv.read_csv(path, convert_options=_CSV_OPTIONS),
    ".parquet": pa_parquet.read_table,
}


def read_table(path: str | Path) -> tuple[dict[str, Column], str]:
    """Columns of a ``.csv`` or ``.parquet`` file and the file's SHA-256 (hex).

    Integer and float columns come back as numpy arrays (NaN where null; an integer column with
    nulls becomes float); all others as lists of Python values, ``None`` where null. In a CSV
    file an empty cell is null, in a text column too.
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        supported = ", ".join(_READERS)
        raise ProfileError(f"{path}: unsupported file type {path.suffix!r}; use one of {supported}")
    try:
        with path.open("rb") as handle:
            sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
        table = reader(path)
    except (OSError, pa.ArrowException) as exc:
        raise ProfileError(f"cannot read {path}: {exc}") from exc
    return {name: _values(table.column(name)) for name in table.column_names}, sha256


def build_profile_from_file(
    model: str,
    path: str | Path,
    *,
    label: str | None = None,
    prediction: str | None = None,
    feature_types: Mapping[str, str] | None = None,
    task: str | None = None,
    version: str | None = None,
    pii: PiiPolicy | None = None,
    scores: Mapping[str, str] | None = None,
) -> ReferenceProfile:
    """Profile a training-data file; see :func:`driftwarden.core.profile.build_profile`.

    The profile's ``source`` records the file's path, SHA-256 and row count. The PII columns
    of ``pii`` are dropped or hashed before anything is counted. ``scores`` (class -> the
    column of the model's score of that class) records a calibration; those columns are not
    features.
    """
    columns, sha256 = read_table(path)
    rows = len(next(iter(columns.values()), ()))
    columns = scrub_columns(columns, pii)
    for column in (scores or {}).values():
        if column not in columns:
            raise ProfileError(f"{path}: no score column {column!r}")
    score_columns = {name: columns.pop(column) for name, column in (scores or {}).items()}
    try:
        return build_profile(
            model,
            columns,
            feature_types,
            label=label,
            prediction=prediction,
            task=task,
            version=version,
            source={"path": str(path), "sha256": sha256, "rows": rows},
            scores=score_columns or None,
        )
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def _values(column: Any) -> Column:
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return column.to_numpy()
    return column.to_pylist()
