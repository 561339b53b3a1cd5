"""Champion/challenger promotion, rollback and listing; every decision goes to the audit log.

``promote`` scores the ``challenger`` and the ``champion`` on the challenger run's fixed holdout
(``holdout.parquet``) and moves ``champion`` only when the challenger beats the champion on the run's
promotion metric (its ``promotion_metric`` param: AUC for binary models by default, macro F1 for
multiclass, R² for regression; smaller is better for log loss, RMSE and the like) by more than the
margin. A champion of another task is never compared: the challenger is refused. A refused promotion
changes no alias. The champion history is kept in the registered-model tag ``mlops.champion_history``
(JSON list of versions) for ``rollback``.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from pulumi_mlops.runtime.config import RuntimeSettings, StrictModel
from pulumi_mlops.runtime.config.tasks import higher_is_better
from pydantic import Field

from .audit import AuditEvent, append_audit
from .contract import CHALLENGER, CHAMPION, HOLDOUT_ARTIFACT, RUN_ID_TAG
from .loading import LoadedModel, ModelNotFoundError, load_model_version, resolve_version
from .tracking import mlflow_client

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "AFTER_TRAINING",
    "HISTORY_TAG",
    "PromotionDecision",
    "VersionRow",
    "gate_after_training",
    "list_versions",
    "promote",
    "rollback",
]

HISTORY_TAG = "mlops.champion_history"


class PromotionDecision(StrictModel):
    """What ``promote`` or ``rollback`` decided."""

    model: str
    """Registered model name."""
    action: str
    """promote, refuse or rollback."""
    promoted: bool
    """Whether the ``champion`` alias moved."""
    reason: str
    """Why."""
    challenger: str | None = None
    """Challenger version considered."""
    champion_before: str | None = None
    """Champion version before the decision."""
    champion_after: str | None = None
    """Champion version after the decision."""
    challenger_auc: float | None = None
    """Challenger AUC on the holdout (when the gate metric is AUC)."""
    champion_auc: float | None = None
    """Champion AUC on the holdout (when the gate metric is AUC)."""
    margin: float = 0.0
    """Required improvement of ``metric``."""
    task: str = "binary"
    """The challenger's task."""
    metric: str = "auc"
    """The holdout metric compared."""
    challenger_score: float | None = None
    """Challenger ``metric`` on the holdout."""
    champion_score: float | None = None
    """Champion ``metric`` on the holdout."""
    holdout_rows: int = Field(default=0)
    """Rows both models were scored on."""


class VersionRow(StrictModel):
    """One model version for ``mlops registry list``."""

    name: str
    version: str
    aliases: list[str]
    created: str
    run_id: str
    auc: float | None
    dataset_sha256: str
    artifact_sha256: str
    task: str = "binary"
    gate_metric: str = "auc"
    gate_score: float | None = None


def _history(client: MlflowClient, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags or {}
    try:
        return [str(v) for v in json.loads(tags.get(HISTORY_TAG, "[]"))]
    except json.JSONDecodeError:
        return []


def _set_champion(client: MlflowClient, name: str, version: str, history: list[str]) -> None:
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-50:]))
    client.set_model_version_tag(name, version, "mlops.champion_since", datetime.now(UTC).isoformat(timespec="seconds"))


def _current(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(resolve_version(client, name, alias).version)
    except ModelNotFoundError:
        return None


def _holdout(client: MlflowClient, run_id: str) -> tuple[pd.DataFrame, str]:
    run = client.get_run(run_id)
    label = run.data.params.get("label", "churned")
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run_id, HOLDOUT_ARTIFACT, tmp)
        frame = pd.read_parquet(path)
    return frame, label


def _score(loaded: LoadedModel, frame: pd.DataFrame, label: str, task: str, metric: str) -> float:
    from pulumi_mlops.runtime.training.evaluation import evaluate_model

    missing = [c for c in loaded.signature_columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"holdout lacks columns {missing} that version {loaded.version} needs; they cannot be compared"
        )
    columns = loaded.signature_columns or [c for c in frame.columns if c != label]
    return evaluate_model(loaded.model, frame[columns], frame[label], task)[metric]


def _metric_name(metric: str) -> str:
    return "AUC" if metric == "auc" else metric


def _slice_regression(
    challenger: LoadedModel, champion: LoadedModel, frame: pd.DataFrame, label: str, run_params: dict[str, str]
) -> tuple[str, float, float] | None:
    """``(slice, AUC change, limit)`` of the worst slice when it degrades beyond ``max_slice_degradation``."""
    from pulumi_mlops.runtime.explain import compare_slices, slice_metrics
    from pulumi_mlops.runtime.training.tasks import binary_targets

    limit_text, columns_text = run_params.get("max_slice_degradation"), run_params.get("sensitive_columns", "")
    columns = [c for c in columns_text.split(",") if c]
    if limit_text is None or not columns:
        return None
    limit = float(limit_text)
    classes = list(getattr(challenger.model, "classes_", [0, 1]))
    y = binary_targets(frame[label].to_numpy(), classes[-1])
    reports = []
    for loaded in (challenger, champion):
        inputs = loaded.signature_columns or [c for c in frame.columns if c != label]
        reports.append(slice_metrics(frame, loaded.model.predict_proba(frame[inputs])[:, 1], y, columns))
    changes = compare_slices(reports[0], reports[1])
    if changes and changes[0][1] < -limit:
        return changes[0][0], changes[0][1], limit
    return None


def _record(settings: RuntimeSettings, decision: PromotionDecision, note: str) -> PromotionDecision:
    append_audit(
        settings,
        AuditEvent(
            action=decision.action,
            model=decision.model,
            reason=decision.reason + (f" (note: {note})" if note else ""),
            versions={
                "challenger": decision.challenger,
                "champion_before": decision.champion_before,
                "champion_after": decision.champion_after,
            },
            details=decision.model_dump(
                include={
                    "challenger_auc",
                    "champion_auc",
                    "margin",
                    "holdout_rows",
                    "task",
                    "metric",
                    "challenger_score",
                    "champion_score",
                }
            ),
        ),
    )
    return decision


def promote(
    name: str,
    settings: RuntimeSettings | None = None,
    *,
    margin: float | None = None,
    holdout: pd.DataFrame | None = None,
    label: str | None = None,
    note: str = "",
) -> PromotionDecision:
    """Compare ``challenger`` with ``champion`` and move ``champion`` if the challenger wins by ``margin``.

    ``margin`` defaults to the challenger run's ``promotion_margin``; ``holdout`` to its ``holdout.parquet``;
    the metric is the run's ``promotion_metric`` (``auc`` for runs that recorded none).
    """
    settings = settings or RuntimeSettings.from_env()
    client = mlflow_client(settings)
    challenger_mv = resolve_version(client, name, CHALLENGER)
    challenger = str(challenger_mv.version)
    champion = _current(client, name, CHAMPION)
    run_id = str((challenger_mv.tags or {}).get(RUN_ID_TAG) or challenger_mv.run_id or "")
    if not run_id:
        raise ModelNotFoundError(f"model {name} version {challenger} names no run; register it with mlops train")
    run_params = client.get_run(run_id).data.params
    required = float(run_params.get("promotion_margin", 0.005)) if margin is None else margin
    task = run_params.get("task", "binary")
    metric = run_params.get("promotion_metric", "auc")
    base: dict[str, Any] = {
        "model": name, "challenger": challenger, "champion_before": champion, "margin": required,
        "task": task, "metric": metric,
    }  # fmt: skip
    shown = _metric_name(metric)

    if champion == challenger:
        decision = PromotionDecision(
            **base, action="refuse", promoted=False, champion_after=champion,
            reason=f"version {challenger} is already the champion",
        )  # fmt: skip
        return _record(settings, decision, note)

    challenger_model = load_model_version(name, challenger, settings)
    if holdout is None:
        holdout, run_label = _holdout(client, run_id)
        label = label or run_label
    label = label or run_params.get("label", "churned")
    challenger_score = _score(challenger_model, holdout, label, task, metric)
    auc_fields: dict[str, Any] = {"challenger_auc": challenger_score} if metric == "auc" else {}

    if champion is None:
        _set_champion(client, name, challenger, [*_history(client, name), challenger])
        decision = PromotionDecision(
            **base, action="promote", promoted=True, champion_after=challenger, challenger_score=challenger_score,
            holdout_rows=len(holdout), **auc_fields,
            reason=f"no champion yet: version {challenger} ({shown} {challenger_score:.4f}) becomes champion",
        )  # fmt: skip
        return _record(settings, decision, note)

    champion_model = load_model_version(name, champion, settings)
    if champion_model.task != task:
        decision = PromotionDecision(
            **base, action="refuse", promoted=False, champion_after=champion, challenger_score=challenger_score,
            holdout_rows=len(holdout), **auc_fields,
            reason=f"challenger version {challenger} is a {task} model but champion version {champion} is "
            f"{champion_model.task}: they cannot be compared; promote explicitly with mlops registry rollback "
            f"--to-version {challenger} if the change of task is intended",
        )  # fmt: skip
        return _record(settings, decision, note)
    champion_score = _score(champion_model, holdout, label, task, metric)
    if metric == "auc":
        auc_fields["champion_auc"] = champion_score
    scores: dict[str, Any] = {"challenger_score": challenger_score, "champion_score": champion_score, **auc_fields}
    gain = challenger_score - champion_score if higher_is_better(task, metric) else champion_score - challenger_score
    regression = _slice_regression(challenger_model, champion_model, holdout, label, run_params)
    if gain > required and regression is not None:
        slice_name, change, limit = regression
        decision = PromotionDecision(
            **base, action="refuse", promoted=False, champion_after=champion, holdout_rows=len(holdout), **scores,
            reason=f"challenger {shown} {challenger_score:.4f} beats champion {champion_score:.4f} by {gain:+.4f}, "
            f"but slice {slice_name} AUC changes by {change:+.4f}, worse than max_slice_degradation {limit}",
        )  # fmt: skip
    elif gain > required:
        _set_champion(client, name, challenger, [*_history(client, name), challenger])
        decision = PromotionDecision(
            **base, action="promote", promoted=True, champion_after=challenger, holdout_rows=len(holdout), **scores,
            reason=f"challenger {shown} {challenger_score:.4f} beats champion {champion_score:.4f} by {gain:+.4f} "
            f"> {required}",
        )  # fmt: skip
    else:
        decision = PromotionDecision(
            **base, action="refuse", promoted=False, champion_after=champion, holdout_rows=len(holdout), **scores,
            reason=f"challenger {shown} {challenger_score:.4f} vs champion {champion_score:.4f}: gain {gain:+.4f} "
            f"does not exceed margin {required}",
        )  # fmt: skip
    return _record(settings, decision, note)


AFTER_TRAINING = "gate after training"
"""Audit note of the gate a training run ends in (``mlops train --promote`` and the torchrun entry point)."""


def gate_after_training(name: str, settings: RuntimeSettings | None = None) -> PromotionDecision:
    """The champion/challenger gate a training run ends in, on the ``challenger`` it just registered."""
    return promote(name, settings, note=AFTER_TRAINING)


def rollback(
    name: str, settings: RuntimeSettings | None = None, *, to_version: str | None = None, note: str = ""
) -> PromotionDecision:
    """Point ``champion`` at ``to_version``, or at the champion before the current one."""
    settings = settings or RuntimeSettings.from_env()
    client = mlflow_client(settings)
    champion = _current(client, name, CHAMPION)
    history = _history(client, name)
    if to_version is None:
        earlier = history[:-1] if history and history[-1] == champion else history
        earlier = [v for v in earlier if v != champion]
        if not earlier:
            raise ModelNotFoundError(f"model {name!r} has no earlier champion to roll back to; pass --to-version")
        target = earlier[-1]
        new_history = history[: len(history) - history[::-1].index(target)]
    else:
        target = str(resolve_version(client, name, to_version).version)
        new_history = [*history, target]
    load_model_version(name, target, settings)
    _set_champion(client, name, target, new_history)
    decision = PromotionDecision(
        model=name, action="rollback", promoted=True, champion_before=champion, champion_after=target,
        reason=f"champion rolled back from {champion} to {target}",
    )  # fmt: skip
    return _record(settings, decision, note)


def list_versions(settings: RuntimeSettings | None = None, name: str | None = None) -> list[VersionRow]:
    """Every version of ``name`` (or of every registered model), newest first."""
    from pulumi_mlops.runtime.registry.contract import DATASET_TAG, DIGEST_TAG

    settings = settings or RuntimeSettings.from_env()
    client = mlflow_client(settings)
    names = [name] if name else sorted(m.name for m in client.search_registered_models())
    rows: list[VersionRow] = []
    for model_name in names:
        aliases: dict[str, list[str]] = {}
        for alias, version in (client.get_registered_model(model_name).aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        versions = client.search_model_versions(f"name='{model_name}'")
        for mv in sorted(versions, key=lambda v: int(v.version), reverse=True):
            tags: dict[str, Any] = dict(mv.tags or {})
            run_id = tags.get(RUN_ID_TAG) or mv.run_id or ""
            run = client.get_run(run_id).data if run_id else None
            metrics = run.metrics if run is not None else {}
            params = run.params if run is not None else {}
            gate_metric = params.get("promotion_metric", "auc")
            rows.append(
                VersionRow(
                    name=model_name,
                    version=str(mv.version),
                    aliases=sorted(aliases.get(str(mv.version), [])),
                    created=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).strftime("%Y-%m-%d %H:%M"),
                    run_id=run_id,
                    auc=metrics.get("holdout_auc"),
                    dataset_sha256=tags.get(DATASET_TAG, ""),
                    artifact_sha256=tags.get(DIGEST_TAG, ""),
                    task=params.get("task", "binary"),
                    gate_metric=gate_metric,
                    gate_score=metrics.get(f"holdout_{gate_metric}"),
                )
            )
    return rows
