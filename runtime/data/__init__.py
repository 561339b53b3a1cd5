"""Training data: the generated churn dataset, loading (with the version of every input), validation and lineage."""

from .errors import DataLoadError, DataPinError
from .generator import (
    CATEGORICAL_FEATURES,
    ENTITY_COLUMN,
    LABEL_COLUMN,
    NUMERIC_FEATURES,
    TIMESTAMP_COLUMN,
    DriftShift,
    GeneratedDataset,
    generate_churn,
    generate_from_uri,
    parse_generated_uri,
)
from .lineage import DatasetDigest, dataset_digest
from .loading import LoadedFrame, load_frame, parse_window, read_frame
from .validation import (
    LABEL_KINDS,
    ColumnFailure,
    ColumnSchema,
    DatasetSchema,
    DataValidationError,
    ValidationReport,
    churn_schema,
    schema_from_profile,
    validate_frame,
)
from .versions import DATA_VERSIONS_ARTIFACT, DATA_VERSIONS_TAG, DataPin, DataVersions, FeastInput, InputObject

__all__ = [
    "CATEGORICAL_FEATURES",
    "DATA_VERSIONS_ARTIFACT",
    "DATA_VERSIONS_TAG",
    "ENTITY_COLUMN",
    "LABEL_COLUMN",
    "LABEL_KINDS",
    "NUMERIC_FEATURES",
    "TIMESTAMP_COLUMN",
    "ColumnFailure",
    "ColumnSchema",
    "DataLoadError",
    "DataPin",
    "DataPinError",
    "DataValidationError",
    "DataVersions",
    "DatasetDigest",
    "DatasetSchema",
    "DriftShift",
    "FeastInput",
    "GeneratedDataset",
    "InputObject",
    "LoadedFrame",
    "ValidationReport",
    "churn_schema",
    "dataset_digest",
    "generate_churn",
    "generate_from_uri",
    "load_frame",
    "parse_generated_uri",
    "parse_window",
    "read_frame",
    "schema_from_profile",
    "validate_frame",
]
