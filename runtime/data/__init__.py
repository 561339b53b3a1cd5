"""Training data: the generated churn dataset, loading, validation and lineage."""

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
from .loading import DataLoadError, load_frame, parse_window
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

__all__ = [
    "CATEGORICAL_FEATURES",
    "ENTITY_COLUMN",
    "LABEL_COLUMN",
    "LABEL_KINDS",
    "NUMERIC_FEATURES",
    "TIMESTAMP_COLUMN",
    "ColumnFailure",
    "ColumnSchema",
    "DataLoadError",
    "DataValidationError",
    "DatasetDigest",
    "DatasetSchema",
    "DriftShift",
    "GeneratedDataset",
    "ValidationReport",
    "churn_schema",
    "dataset_digest",
    "generate_churn",
    "generate_from_uri",
    "load_frame",
    "parse_generated_uri",
    "parse_window",
    "schema_from_profile",
    "validate_frame",
]
