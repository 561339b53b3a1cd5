"""Champions named in a reviewed file: promotion as a pull request, applied by the deploy pipeline.

A champions file names, per stack, the model each endpoint serves and the version that must be its champion::

    stacks:
      prod:
        churn: {model: churn, version: 7}
        churn-gpu: {model: churn-mlp, version: 3}

``pin_champion`` points ``champion`` at that version after loading it (its digests are verified), appends it to the
champion history (so ``mlops registry rollback`` returns to the one before) and writes an audit event with action
``pin``. A model whose champion already is that version is left as it is and nothing is recorded, so applying the
same file twice changes nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pulumi_mlops.runtime.config import RuntimeSettings, StrictModel
from pydantic import Field, ValidationError, model_validator

from .audit import AuditEvent, append_audit
from .contract import CHAMPION
from .loading import ModelNotFoundError, load_model_version, resolve_version
from .promotion import HISTORY_TAG, PromotionDecision
from .tracking import mlflow_client

__all__ = ["PIN", "ChampionsFile", "ChampionsFileError", "EndpointChampion", "load_champions", "pin_champion"]

PIN = "pin"
"""Audit action of a champion set from a champions file."""


class ChampionsFileError(ValueError):
    """A champions file that cannot be read or does not validate; the message names the file and the field."""


class EndpointChampion(StrictModel):
    """The champion of one endpoint's model."""

    model: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    """Registered model the endpoint serves (its ``serving.model.name``)."""
    version: int = Field(ge=1)
    """Version number that must be the model's ``champion``."""


class ChampionsFile(StrictModel):
    """Per stack, endpoint name -> the champion of the model it serves."""

    stacks: dict[str, dict[str, EndpointChampion]]
    """Stack name (``stacks/Pulumi.<stack>.yaml``) -> endpoint -> champion."""

    @model_validator(mode="after")
    def _one_version_per_model(self) -> ChampionsFile:
        errors = []
        for stack, endpoints in self.stacks.items():
            versions: dict[str, dict[int, list[str]]] = {}
            for endpoint, champion in endpoints.items():
                versions.setdefault(champion.model, {}).setdefault(champion.version, []).append(endpoint)
            for model, by_version in versions.items():
                if len(by_version) > 1:
                    named = "; ".join(f"version {v}: {', '.join(eps)}" for v, eps in sorted(by_version.items()))
                    errors.append(
                        f"stacks.{stack}: endpoints of model {model} name different champions ({named}); a model has "
                        "one champion per registry: give them the same version"
                    )
        if errors:
            raise ValueError("\n".join(errors))
        return self

    def champions(self, stack: str) -> dict[str, str]:
        """Model -> champion version of one stack."""
        if stack not in self.stacks:
            raise ChampionsFileError(f"stacks.{stack}: the file names no champions for this stack; add it")
        return {c.model: str(c.version) for c in self.stacks[stack].values()}


def load_champions(path: Path) -> ChampionsFile:
    """Read and validate a champions file (YAML)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ChampionsFileError(f"{path}: cannot be read as YAML ({exc})") from None
    try:
        return ChampionsFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ChampionsFileError(f"{path}: {problems}") from None


def pin_champion(
    name: str, version: str, settings: RuntimeSettings | None = None, *, note: str = ""
) -> PromotionDecision:
    """Make ``version`` the champion of ``name`` (audited as ``pin``), or leave a champion that already is it."""
    settings = settings or RuntimeSettings.from_env()
    client = mlflow_client(settings)
    target = str(resolve_version(client, name, version).version)
    try:
        before: str | None = str(resolve_version(client, name, CHAMPION).version)
    except ModelNotFoundError:
        before = None
    if before == target:
        return PromotionDecision(
            model=name, action="unchanged", promoted=False, champion_before=before, champion_after=target,
            reason=f"version {target} already is the champion",
        )  # fmt: skip
    load_model_version(name, target, settings)
    tags = client.get_registered_model(name).tags or {}
    try:
        history = [str(v) for v in json.loads(tags.get(HISTORY_TAG, "[]"))]
    except json.JSONDecodeError:
        history = []
    client.set_registered_model_alias(name, CHAMPION, target)
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps([*history, target][-50:]))
    client.set_model_version_tag(name, target, "mlops.champion_since", datetime.now(UTC).isoformat(timespec="seconds"))
    decision = PromotionDecision(
        model=name, action=PIN, promoted=True, champion_before=before, champion_after=target,
        reason=f"champion pinned from {before or 'none'} to {target} by the champions file",
    )  # fmt: skip
    append_audit(
        settings,
        AuditEvent(
            action=PIN,
            model=name,
            reason=decision.reason + (f" (note: {note})" if note else ""),
            versions={"champion_before": before, "champion_after": target},
        ),
    )
    return decision
