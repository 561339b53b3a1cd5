"""Resolve a registry alias to a model version and load that version, verified by digest and warmed up.

``model_format`` chooses what predicts: ``native`` (the MLflow flavor), ``onnx`` (the version's ``model.onnx``
under ONNX Runtime, refused when there is none) or ``auto``: ONNX when the version's export passed its parity
check at registration (``mlops.onnx`` is ``exported``), the native flavor otherwise. An ONNX model is fed the
decoded columns directly, with no DataFrame; under ``auto`` the native model is loaded too, for explanations, and
serves instead when the ONNX export cannot be downloaded (tried again later), fails its checks or fails its
warm-up prediction.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.explain.contributions import occlusion_explainer
from pulumi_mlops.runtime.registry.contract import METADATA_KEY
from pulumi_mlops.runtime.registry.digest import DIGEST_TAG, FILES_TAG, DigestMismatchError, verify_directory

from .errors import ModelLoadError, ModelRefused
from .model import ServedModel
from .protocol import columns_from_records
from .schema import ModelSchema, outputs_from_metadata, schema_from_signature

__all__ = ["FLAVOR_TAG", "MODEL_FORMATS", "MlflowModelSource", "ModelSource", "choose_format", "warm_up"]

FLAVOR_TAG = "mlops.flavor"
"""Model-version tag naming the MLflow flavor the version was logged with."""

MODEL_FORMATS = ("auto", "native", "onnx")
"""Values of ``--format``."""
ONNX_THREADS = 1
"""ONNX Runtime intra-op threads of a served model: micro-batches are small, and replicas scale the server."""

log = logging.getLogger(__name__)


def choose_format(requested: str, tags: dict[str, str]) -> tuple[str, str]:
    """``(native or onnx, why)`` for a version with these tags under ``--format requested``."""
    from pulumi_mlops.runtime.registry.onnx_export import ONNX_SHA_TAG, ONNX_STATUS_TAG

    if requested != "auto":
        return requested, f"--format {requested}"
    status = " ".join(tags.get(ONNX_STATUS_TAG, "no ONNX export recorded").split())
    if status == "exported" and tags.get(ONNX_SHA_TAG) and tags.get("mlops.run_id"):
        return "onnx", "--format auto: the ONNX export passed its parity check at registration"
    return "native", f"--format auto: no ONNX export passed its parity check ({status})"


class ModelSource(Protocol):
    """Where the server finds model versions (the MLflow registry in production)."""

    def resolve(self, name: str, alias: str) -> str:
        """The version the alias points at."""
        ...

    def load(self, name: str, version: str) -> ServedModel:
        """Load, verify and warm up one version; raise :class:`ModelLoadError` on failure."""
        ...


def _absent(exc: BaseException) -> bool:
    """Whether a download failed because the artifact does not exist (MLflow's ``RESOURCE_DOES_NOT_EXIST``, or a
    missing file of a local store), not because the store could not be reached."""
    if isinstance(exc, FileNotFoundError):
        return True
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def warm_up(model: ServedModel, example: list[dict[str, Any]] | None = None) -> None:
    """Predict once on the input example (or a synthesized row); a model that fails here is refused."""
    try:
        parts = [columns_from_records(model.schema, example) if example else model.schema.synthesized_row()]
        predictions = model.predict(parts)
    except Exception as exc:
        raise ModelRefused(f"{model.name} version {model.version} failed its warm-up prediction: {exc}") from exc
    if len(predictions) != len(next(iter(parts[0].values()))):
        raise ModelRefused(f"{model.name} version {model.version} returned {len(predictions)} predictions on warm-up")


def _input_example(mlmodel: Any, local: Path, schema: ModelSchema) -> list[dict[str, Any]] | None:
    try:
        example = mlmodel.load_input_example(str(local))
    except Exception:
        return None
    if example is None or not hasattr(example, "to_dict"):
        return None
    records: list[dict[str, Any]] = example.head(1).to_dict(orient="records")
    if not records or any(name not in records[0] for name in schema.names):
        return None
    return records


class MlflowModelSource:
    """Model versions from the MLflow registry named by :class:`RuntimeSettings`."""

    def __init__(
        self, settings: RuntimeSettings | None = None, *, verify_digest: bool = True, model_format: str = "auto"
    ) -> None:
        import mlflow

        if model_format not in MODEL_FORMATS:
            raise ValueError(f"model format {model_format!r}: use {', '.join(MODEL_FORMATS)}")
        self.model_format = model_format
        from mlflow.tracking import MlflowClient

        self.settings = settings or RuntimeSettings.from_env()
        self.verify_digest = verify_digest
        # Artifact downloads of models:/ URIs resolve through the process-wide URIs; a server serves one registry.
        mlflow.set_tracking_uri(self.settings.resolved_tracking_uri())
        mlflow.set_registry_uri(self.settings.resolved_registry_uri())
        self.client = MlflowClient(
            tracking_uri=self.settings.resolved_tracking_uri(), registry_uri=self.settings.resolved_registry_uri()
        )

    def resolve(self, name: str, alias: str) -> str:
        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except Exception as exc:
            raise ModelLoadError(f"cannot resolve {name}@{alias} in the registry: {exc}") from exc

    def load(self, name: str, version: str) -> ServedModel:
        import mlflow
        from mlflow.models import Model

        try:
            model_version = self.client.get_model_version(name, version)
        except Exception as exc:
            raise ModelLoadError(f"cannot read {name} version {version} from the registry: {exc}") from exc
        tags = dict(model_version.tags or {})
        expected = tags.get(DIGEST_TAG, "")
        if self.verify_digest and not expected:
            raise ModelRefused(f"{name} version {version} has no {DIGEST_TAG} tag: refusing an unverifiable model")
        flavor = tags.get(FLAVOR_TAG, "sklearn")
        workdir = Path(tempfile.mkdtemp(prefix=f"mlops-serve-{name}-{version}-"))
        try:
            try:
                uri = f"models:/{name}/{version}"
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(workdir)))
                if not (local / "MLmodel").is_file():
                    found = sorted(p.parent for p in local.rglob("MLmodel"))
                    if not found:
                        raise FileNotFoundError(f"no MLmodel file under {uri}")
                    local = found[0]
            except Exception as exc:
                raise ModelLoadError(f"cannot download {name} version {version}: {exc}") from exc
            if self.verify_digest:
                try:
                    verify_directory(local, expected, tags.get(FILES_TAG))
                except DigestMismatchError as exc:
                    raise ModelRefused(f"{name} version {version}: {exc}") from exc
            mlmodel = Model.load(str(local))
            recorded = (mlmodel.metadata or {}).get(METADATA_KEY) or {}
            task = recorded.get("task")
            schema = schema_from_signature(mlmodel.signature, outputs_from_metadata(recorded.get("outputs", [])))
            chosen, reason = choose_format(self.model_format, tags)
            onnx, retry_format = None, False
            if chosen == "onnx":
                try:
                    onnx = self._load_onnx(name, version, tags, workdir)
                except ModelLoadError as exc:
                    if self.model_format == "onnx":
                        raise
                    retry_format = not isinstance(exc, ModelRefused)  # a download that may work next time
                    later = "; trying it again later" if retry_format else ""
                    chosen, reason = "native", f"--format auto: the ONNX export could not be used ({exc}){later}"
                    log.warning("%s version %s: %s", name, version, reason)
            native = None
            if chosen == "native" or self.model_format == "auto":
                try:
                    native = self._load_native(flavor, local)
                except ModelRefused as exc:
                    if chosen == "native":
                        raise
                    log.warning("%s version %s: no per-request explanations: %s", name, version, exc)
            explainer = None
            if native is not None:
                explainer = occlusion_explainer(getattr(native, "__self__", None), recorded.get("reference"))
            example = _input_example(mlmodel, local, schema)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

        def build(predictor: Any, columns: Any, model_format: str, why: str, retry: bool = False) -> ServedModel:
            try:
                return ServedModel(
                    name, version, schema, predictor, flavor="onnx" if model_format == "onnx" else flavor,
                    digest=expected, source=str(local), explainer=explainer, task=task,
                    classes=tuple(recorded.get("classes", ())), column_predictor=columns, model_format=model_format,
                    format_reason=why, retry_format=retry,
                )  # fmt: skip
            except ValueError as exc:
                raise ModelRefused(str(exc)) from exc

        if onnx is not None:
            regression = task == "regression"
            model = build(
                onnx.predict if regression else onnx.predict_proba,
                onnx.predict_columns if regression else onnx.predict_proba_columns,
                "onnx",
                reason,
            )
            try:
                warm_up(model, example)
            except ModelRefused as exc:
                if self.model_format == "onnx" or native is None:
                    raise
                reason = f"--format auto: the ONNX export failed its warm-up prediction ({exc})"
                log.warning("%s version %s: %s", name, version, reason)
            else:
                log.info("%s version %s loads with ONNX Runtime (%s)", name, version, reason)
                return model
        model = build(native, None, "native", reason, retry_format)
        warm_up(model, example)
        log.info("%s version %s loads with the native %s flavor (%s)", name, version, flavor, reason)
        return model

    def _load_onnx(self, name: str, version: str, tags: dict[str, str], workdir: Path) -> Any:
        """The version's ``model.onnx`` run artifact, verified by sha256, as an ``OnnxModel``."""
        import hashlib

        from pulumi_mlops.runtime.registry.onnx_export import (
            INPUTS_METADATA,
            ONNX_ARTIFACT,
            ONNX_REPORT_ARTIFACT,
            ONNX_SHA_TAG,
            ONNX_STATUS_TAG,
            OnnxExport,
            OnnxModel,
            skl2onnx_names,
        )

        expected = tags.get(ONNX_SHA_TAG)
        run_id = tags.get("mlops.run_id", "")
        if not expected or not run_id:
            status = tags.get(ONNX_STATUS_TAG, "no ONNX export recorded")
            raise ModelRefused(
                f"{name} version {version} has no ONNX artifact ({status}); serve it with --format native"
            )
        try:
            folder = workdir / "onnx"
            folder.mkdir()
            payload = Path(self.client.download_artifacts(run_id, ONNX_ARTIFACT, str(folder))).read_bytes()
            report_text = Path(self.client.download_artifacts(run_id, ONNX_REPORT_ARTIFACT, str(folder))).read_text()
        except Exception as exc:
            if _absent(exc):  # the run has no such artifact: downloading again cannot help
                raise ModelRefused(f"{name} version {version}: its run has no ONNX artifact: {exc}") from exc
            raise ModelLoadError(f"cannot download the ONNX artifact of {name} version {version}: {exc}") from exc
        try:
            report = OnnxExport.model_validate_json(report_text)
        except ValueError as exc:
            raise ModelRefused(
                f"{name} version {version}: {ONNX_REPORT_ARTIFACT} is not an ONNX export report: {exc}"
            ) from None
        if hashlib.sha256(payload).hexdigest() != expected:
            raise ModelRefused(f"{name} version {version}: model.onnx does not match {ONNX_SHA_TAG}")
        try:
            model = OnnxModel(payload, report.inputs, threads=ONNX_THREADS, spinning=False)
        except ValueError as exc:
            raise ModelRefused(
                f"{name} version {version}: {ONNX_REPORT_ARTIFACT} does not fit model.onnx: {exc}"
            ) from exc
        except Exception as exc:
            raise ModelRefused(f"{name} version {version}: ONNX Runtime cannot load model.onnx: {exc}") from exc
        if model.recorded_inputs is None and (
            model.matrix or model.graph_inputs != skl2onnx_names(model.signature_columns)
        ):
            raise ModelRefused(
                f"{name} version {version}: model.onnx does not record its input columns ({INPUTS_METADATA}) and its "
                f"input names {model.graph_inputs} are not those skl2onnx makes of the columns of "
                f"{ONNX_REPORT_ARTIFACT}, so the column order cannot be checked; register the version again to "
                "export it with them"
            )
        return model

    @staticmethod
    def _load_native(flavor: str, local: Path) -> Any:
        try:
            if flavor == "sklearn":
                import mlflow.sklearn

                estimator = mlflow.sklearn.load_model(str(local))
                return getattr(estimator, "predict_proba", estimator.predict)
            import mlflow.pyfunc

            return mlflow.pyfunc.load_model(str(local)).predict
        except Exception as exc:
            raise ModelRefused(f"cannot load the {flavor} model at {local}: {exc}") from exc
