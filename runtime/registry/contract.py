"""Names the registry shares with the model server and the drift detector.

A training run registers ``TrainingSpec.model.name``; the new version gets the alias
``challenger`` and these model-version tags:

- ``mlops.artifact_sha256``: :func:`~.digest.directory_digest` of the logged model directory
  (the folder holding ``MLmodel``), verified before every load;
- ``mlops.flavor``: ``sklearn`` (load with ``mlflow.sklearn``; the object is a ``Pipeline``);
- ``mlops.dataset_sha256``: the training frame's digest (:mod:`pulumi_mlops.runtime.data.lineage`);
- ``mlops.run_id``: the MLflow run that logged it.

The run holds the artifacts ``reference_profile.json`` (a
:class:`pulumi_mlops.runtime.drift.profile.ReferenceProfile`: quantile bins and counts, summary
statistics and null rates per numeric feature, category counts per categorical feature, the same for
the predicted positive-class probability, and the holdout metrics), ``model_card.md`` and
``holdout.parquet`` (the evaluation rows, used again at promotion) next to the model (``model/``).
"""

from __future__ import annotations

from .digest import DIGEST_TAG

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DATASET_TAG",
    "DIGEST_TAG",
    "FLAVOR",
    "FLAVOR_TAG",
    "HOLDOUT_ARTIFACT",
    "MODEL_ARTIFACT",
    "MODEL_CARD_ARTIFACT",
    "PROFILE_ARTIFACT",
    "RUN_ID_TAG",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
FLAVOR = "sklearn"
FLAVOR_TAG = "mlops.flavor"
DATASET_TAG = "mlops.dataset_sha256"
RUN_ID_TAG = "mlops.run_id"
MODEL_ARTIFACT = "model"
PROFILE_ARTIFACT = "reference_profile.json"
MODEL_CARD_ARTIFACT = "model_card.md"
HOLDOUT_ARTIFACT = "holdout.parquet"
