"""Where driftwarden keeps its things in MLflow: the names both services agree on.

The retrain side writes them (the registry backend ``registry: {backend: mlflow}`` and the
tracking of retrain runs); the monitor reads a version's reference profile through them. A model
server needs only the alias: ``models:/<model>@production``.

- Every registered version comes from an MLflow run (the retrain run that trained it, or the run
  the registry opens for a version registered by hand); that run holds the version's reference
  profile at :data:`PROFILE_ARTIFACT` and its model card at :data:`MODEL_CARD_ARTIFACT`.
- The version's stage is the version tag :data:`STAGE_TAG`; the production version carries the
  alias :data:`PRODUCTION_ALIAS`, a version awaiting approval the alias :data:`CHALLENGER_ALIAS`.

>>> profile_uri("runs-id-1")
'runs:/runs-id-1/driftwarden/profile.json'
"""

from __future__ import annotations

__all__ = [
    "CHALLENGER_ALIAS",
    "GATE_REPORT_ARTIFACT",
    "MODEL_ARTIFACT",
    "MODEL_CARD_ARTIFACT",
    "PRODUCTION_ALIAS",
    "PROFILE_ARTIFACT",
    "STAGE_TAG",
    "TAG_PREFIX",
    "profile_uri",
]

TAG_PREFIX = "driftwarden."
STAGE_TAG = "driftwarden.stage"
PRODUCTION_ALIAS = "production"
CHALLENGER_ALIAS = "challenger"
MODEL_ARTIFACT = "model"
PROFILE_ARTIFACT = "driftwarden/profile.json"
MODEL_CARD_ARTIFACT = "driftwarden/model_card.md"
GATE_REPORT_ARTIFACT = "driftwarden/gate_report.json"


def profile_uri(run_id: str) -> str:
    """The artifact URI of the reference profile in run ``run_id``."""
    return f"runs:/{run_id}/{PROFILE_ARTIFACT}"
