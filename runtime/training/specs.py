"""Reading a ``TrainingSpec`` (``train.yaml``, the mounted ``/etc/mlops/spec.json``) and validation schemas."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pulumi_mlops.runtime.config import TrainingSpec
from pulumi_mlops.runtime.data import DatasetSchema, schema_from_profile
from pydantic import ValidationError

__all__ = ["SpecFileError", "load_training_spec", "load_validation_schema"]


class SpecFileError(ValueError):
    """A training spec file is missing, unparsable or invalid."""


def load_training_spec(path: str | Path) -> TrainingSpec:
    """Parse a YAML or JSON file into a :class:`TrainingSpec`; errors name the file and the field."""
    file = Path(path)
    if not file.is_file():
        raise SpecFileError(f"{file}: training spec file not found")
    text = file.read_text()
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecFileError(f"{file}: not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {exc}") from None
    if not isinstance(data, dict):
        raise SpecFileError(f"{file}: expected a mapping of TrainingSpec fields, found {type(data).__name__}")
    try:
        return TrainingSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise SpecFileError(f"{file}: invalid TrainingSpec: {problems}") from None


def load_validation_schema(path: str | Path, *, label: str | None = None) -> DatasetSchema:
    """A :class:`DatasetSchema` file (YAML/JSON), or a ``reference_profile.json`` turned into one."""
    file = Path(path)
    if not file.is_file():
        raise SpecFileError(f"{file}: schema file not found")
    try:
        data = json.loads(file.read_text()) if file.suffix == ".json" else yaml.safe_load(file.read_text())
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecFileError(f"{file}: not valid JSON/YAML: {exc}") from None
    if isinstance(data, dict) and "schema_version" in data and "features" in data:
        return schema_from_profile(data, label=label)
    try:
        return DatasetSchema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise SpecFileError(f"{file}: neither a DatasetSchema nor a reference profile: {problems}") from None
