"""Names the registry shares with the model server and the drift detector.

A training run registers ``TrainingSpec.model.name``; the new version gets the alias
``challenger`` and these model-version tags:

- ``mlops.artifact_sha256``: :func:`~.digest.directory_digest` of the logged model directory
  (the folder holding ``MLmodel``, less the files MLflow writes there on load), verified before every load;
- ``mlops.artifact_files``: the sha256 of each of those files (JSON), so a refused load names the file;
- ``mlops.flavor``: ``sklearn`` (load with ``mlflow.sklearn``; the object is a ``Pipeline``);
- ``mlops.dataset_sha256``: the training frame's digest (:mod:`pulumi_mlops.runtime.data.lineage`);
- ``mlops.run_id``: the MLflow run that logged it;
- ``mlops.task``: ``binary``, ``multiclass`` or ``regression``.

The ``MLmodel`` file (covered by the digest) carries ``metadata.mlops`` (:func:`model_metadata`): the
task, the label column, the classes of a classifier (sorted; the probability columns follow them) and
the model server's output tensors (:func:`output_tensors`), which ``GET /v2/models/<name>`` returns, and,
for a Pipeline of your own (no ``preprocess`` step to take it from), ``reference``: the holdout median or
most frequent value of each feature, the reference of per-request (occlusion) explanations.
Versions without it (registered before tasks) are served as binary models with one output.

The run holds the artifacts ``reference_profile.json`` (a
:class:`pulumi_mlops.runtime.drift.profile.ReferenceProfile`: quantile bins and counts, summary
statistics and null rates per numeric feature, category counts per categorical feature, the same for
the predicted positive-class probability, and the holdout metrics), ``model_card.md``,
``holdout.parquet`` (the evaluation rows, used again at promotion) and ``training_spec.json`` (the
``TrainingSpec`` of the run with its task and feature columns made explicit, which ``mlops retrain``
reuses), ``data_versions.json`` (the version of every input read, :mod:`pulumi_mlops.runtime.data.versions`) and
``environment.json`` (package versions and git commit, :mod:`pulumi_mlops.runtime.environment`), which
``mlops reproduce`` retrains from, next to the model (``model/``).
"""

from __future__ import annotations

from typing import Any

from .digest import DIGEST_TAG

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DATASET_TAG",
    "DIGEST_TAG",
    "FLAVOR",
    "FLAVOR_TAG",
    "HOLDOUT_ARTIFACT",
    "METADATA_KEY",
    "MODEL_ARTIFACT",
    "MODEL_CARD_ARTIFACT",
    "PROFILE_ARTIFACT",
    "RUN_ID_TAG",
    "TASK_TAG",
    "TRAINING_SPEC_ARTIFACT",
    "label_datatype",
    "model_metadata",
    "output_tensors",
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
TRAINING_SPEC_ARTIFACT = "training_spec.json"
TASK_TAG = "mlops.task"
METADATA_KEY = "mlops"
"""Key of the runtime's entry in the ``metadata`` of the ``MLmodel`` file."""


def label_datatype(classes: list[Any]) -> str:
    """Open Inference Protocol datatype of a predicted class: BOOL, INT64, FP64 or BYTES (strings)."""
    if classes and all(isinstance(c, bool) for c in classes):
        return "BOOL"
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "INT64"
    if classes and all(isinstance(c, int | float) and not isinstance(c, bool) for c in classes):
        return "FP64"
    return "BYTES"


def output_tensors(task: str, classes: list[Any]) -> list[dict[str, Any]]:
    """The model server's outputs per task, in response order.

    - binary: ``probability`` (of the positive class, ``[N]``), ``probabilities`` (``[N, 2]``, columns in
      ``classes`` order) and ``label`` (the predicted class at the 0.5 threshold);
    - multiclass: ``probabilities`` (``[N, K]``) and ``label`` (the most probable class);
    - regression: ``value`` (``[N]``).
    """
    if task == "regression":
        return [{"name": "value", "datatype": "FP64", "shape": [-1]}]
    probabilities = {
        "name": "probabilities",
        "datatype": "FP64",
        "shape": [-1, len(classes)],
        "parameters": {"classes": list(classes)},
    }
    label = {"name": "label", "datatype": label_datatype(classes), "shape": [-1]}
    if task == "binary":
        positive = {"name": "probability", "datatype": "FP64", "shape": [-1], "parameters": {"class": classes[-1]}}
        return [positive, probabilities, label]
    return [probabilities, label]


def model_metadata(task: str, label: str, classes: list[Any]) -> dict[str, Any]:
    """The ``metadata.mlops`` entry of a version's ``MLmodel`` file."""
    entry: dict[str, Any] = {"task": task, "label": label, "outputs": output_tensors(task, classes)}
    if task != "regression":
        entry["classes"] = list(classes)
    return entry
