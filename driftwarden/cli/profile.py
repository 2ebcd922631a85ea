"""``driftwarden profile build``: a model's reference profile from its training table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from driftwarden.cli.base import RAW, Commands
from driftwarden.config import load_config
from driftwarden.core.errors import ConfigError
from driftwarden.core.privacy import PiiPolicy
from driftwarden.core.profile_json import save_profile

__all__ = ["add_command"]


def add_command(commands: Commands) -> None:
    profile = commands.add_parser("profile", help="work with reference profiles")
    actions = profile.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="build a model's reference profile from its training table",
        description="Summarize a training table (CSV or Parquet) into the reference profile that "
        "the drift checks compare production with: quantile bins per numeric feature, top "
        "categories per categorical feature, the prediction and label distributions and the "
        "reference performance. Feature types come from --config when given, else from the "
        "column types.\n\nexample:\n  driftwarden profile build --model churn --data "
        "train.parquet --label churned --prediction predicted --out profiles/churn-3.json",
        formatter_class=RAW,
    )
    build.add_argument("--model", required=True, help="model name")
    build.add_argument("--data", required=True, help="training table, .csv or .parquet")
    build.add_argument("--label", help="label column")
    build.add_argument("--prediction", help="prediction column")
    build.add_argument("--version", help="model version the profile belongs to")
    build.add_argument("--config", help="monitor config: take the model's task and features")
    build.add_argument(
        "--pii",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a PII column to leave out (repeatable); with --config, added to the model's 'pii' "
        "and treated by its 'pii_mode'",
    )
    build.add_argument(
        "--score",
        action="append",
        default=[],
        metavar="CLASS=COLUMN",
        help="the column holding the model's score of CLASS (repeatable; with --label): the "
        "profile records an isotonic calibration of the scores for performance estimation. A "
        "binary model may give its positive class alone; a multiclass model needs every class",
    )
    build.add_argument("--out", required=True, help="where to write the profile JSON")
    build.set_defaults(handler=build_profile)


def build_profile(args: argparse.Namespace) -> int:
    from driftwarden.core.profile_build import build_profile_from_file

    feature_types, task, pii = _profile_settings(args)
    print(f"reading {args.data} ...", file=sys.stderr)
    profile = build_profile_from_file(
        args.model,
        args.data,
        label=args.label,
        prediction=args.prediction,
        feature_types=feature_types,
        task=task,
        version=args.version,
        pii=pii,
        scores=_score_columns(args.score),
    )
    save_profile(profile, Path(args.out))
    print(
        f"profiled {profile.rows} rows, {len(profile.features)} features -> {args.out}",
        file=sys.stderr,
    )
    return 0


def _score_columns(pairs: list[str]) -> dict[str, str] | None:
    """``--score CLASS=COLUMN`` arguments as class -> column."""
    out = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        if not (sep and name and column):
            raise ConfigError(f"--score {pair!r}: expected CLASS=COLUMN, e.g. --score 1=p_churn")
        out[name] = column
    return out or None


def _profile_settings(
    args: argparse.Namespace,
) -> tuple[dict[str, str] | None, str | None, PiiPolicy | None]:
    """Feature types, task and PII policy of ``profile build``, from ``--config`` and ``--pii``."""
    pii = PiiPolicy(frozenset(args.pii)) if args.pii else None
    if not args.config:
        return None, None, pii
    config = load_config(args.config)
    model = config.model(args.model)
    if model is None:
        raise ConfigError(f"{args.config}: no model named {args.model!r} under 'models'")
    feature_types = {n: t.value for n, t in model.features.items()} or None
    pii = config.pii_policy(model.model_copy(update={"pii": [*model.pii, *args.pii]}))
    if feature_types and pii is not None and pii.mode == "drop":
        feature_types = {n: t for n, t in feature_types.items() if n not in pii.names} or None
    return feature_types, model.task.value, pii
