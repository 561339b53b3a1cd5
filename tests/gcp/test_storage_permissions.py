"""The Cloud Storage permissions each workload needs, and that the GCP stacks grant exactly enough of them.

Two proofs:

- From the preview graph: every ``gs://`` location a workload is given (container args, env, mounted spec files),
  the runtime command that receives it, what that command does there (``policies/references.py``
  ``WORKLOAD_USES``/``OPERATIONS``) and the permissions that takes, against the permissions the workload's Google
  service account holds on that bucket (its bucket bindings, expanded with ``policies/_iam.py``). The table is
  printed (``pytest -s``) and the test fails naming any missing permission.
- From the runtime itself: the code paths that talk to Cloud Storage through pyarrow (``runtime/storage.py``,
  the prediction log, the drift window, batch output) run against :class:`FakeGcs`, a filesystem that issues the
  JSON API calls pyarrow's ``GcsFileSystem`` issues for each operation (apache/arrow
  ``cpp/src/arrow/filesystem/gcsfs.cc``, ``GcsFileSystem::Impl``) and refuses any call whose permission the
  workload lacks. Each path succeeds with the stack's grants, uses only what the operation table lists, and the
  prediction log fails without ``storage.buckets.get`` (the grant no object role carries).

MLflow (google-cloud-storage), Feast's registry and training-data reads (gcsfs) do not go through pyarrow's
GcsFileSystem; their permissions come from the operation table alone.
"""

from __future__ import annotations

import copy
import dataclasses
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from pulumi_mlops.policies._graph import StackGraph
from pulumi_mlops.policies._iam import glob_match
from pulumi_mlops.policies._identities import gcs_grants, gke_identity
from pulumi_mlops.policies._uses import workload_uses
from pulumi_mlops.policies.offline import run_policies
from pulumi_mlops.policies.references import OPERATIONS, operations_of
from pulumi_mlops.runtime.config import PredictionLogSpec, RuntimeSettings
from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from pulumi_mlops.preview import PreviewResult
from pulumi_mlops.preview.graph import ResourceGraph

STACKS = ("gcp-dev", "gcp-prod")
ADVISORY = EnforcementLevel.ADVISORY
Previews = Callable[[str], PreviewResult]


def stack_graph(graph: ResourceGraph) -> StackGraph:
    """The graph as a stack policy sees it (the policy SDK's analyzer builds the resources, as the engine does)."""
    captured: list[StackGraph] = []

    def capture(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        captured.append(StackGraph(args.resources))

    policy = StackValidationPolicy(
        name="capture-graph", description="Captures the graph.", validate=capture, enforcement_level=ADVISORY
    )
    run_policies(graph, {}, policies=[policy])
    return captured[0]


def granted(graph: StackGraph, namespace: str, service_account: str, bucket: str, project: str) -> set[str]:
    """Permission patterns the pods of ``namespace/service_account`` hold on ``bucket``."""
    return gcs_grants(graph, gke_identity(graph, namespace, service_account), bucket, project)


def holds(patterns: set[str], permission: str) -> bool:
    return any(glob_match(p, permission) for p in patterns)


@dataclass(frozen=True)
class Row:
    """One location a workload is given, what its command does there, and the permissions involved."""

    workload: str
    commands: str
    where: str
    uri: str
    operation: str
    needed: tuple[str, ...]
    missing: tuple[str, ...]

    def __str__(self) -> str:
        state = f"MISSING {', '.join(self.missing)}" if self.missing else "granted"
        return (
            f"{self.workload:48} {self.commands:28} {self.operation:14} {self.uri:60} {' '.join(self.needed)} [{state}]"
        )


def access_table(result: PreviewResult) -> list[Row]:
    graph = stack_graph(result.graph)
    project = result.spec.gcp_project or ""
    buckets = set(result.graph.outputs["bucketNames"].values())
    rows = []
    for use in workload_uses(graph):
        if use.location.scheme != "gs" or use.location.bucket not in buckets:
            continue
        sa = str(use.template.spec.get("serviceAccountName") or "default")
        perms = granted(graph, use.template.namespace, sa, use.location.bucket, project)
        for op in operations_of(use):
            needed = OPERATIONS[op].gcs
            rows.append(
                Row(
                    workload=use.workload,
                    commands=" / ".join(use.commands),
                    where=use.where,
                    uri=use.location.uri,
                    operation=op,
                    needed=needed,
                    missing=tuple(p for p in needed if not holds(perms, p)),
                )
            )
    return sorted(set(rows), key=lambda r: (r.workload, r.uri, r.operation))


@pytest.mark.parametrize("stack", STACKS)
def test_every_workload_holds_the_permissions_of_every_storage_call_it_makes(previews: Previews, stack: str) -> None:
    result = previews(stack)
    table = access_table(result)
    print(f"\n{stack}: workload, command, operation, location, permissions")
    for row in table:
        print(row)
    assert [str(r) for r in table if r.missing] == []
    ops = {(r.commands.split(" / ")[0], r.operation) for r in table}
    # The runtime paths of the platform, each with its location in a bucket of the stack.
    assert {
        ("mlops serve", "append"),
        ("mlops drift", "read"),
        ("mlops drift", "put"),
        ("mlops batch-predict", "read"),
        ("mlops batch-predict", "write"),
        ("mlflow server", "artifacts"),
        ("feast serve", "registry-read"),
    } <= ops


def test_a_grant_taken_away_is_named_as_missing(previews: Previews) -> None:
    result = previews("gcp-dev")
    graph = copy.deepcopy(result.graph)
    reader = next(
        r
        for r in graph.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
        if r.props["role"] == "roles/storage.legacyBucketReader" and "-server-" in r.name
    )
    del graph.resources[reader.urn]
    missing = [r for r in access_table(dataclasses.replace(result, graph=graph)) if r.missing]
    assert missing, "the servers' prediction-log writes read the bucket's metadata"
    assert {(r.commands, r.operation, r.missing) for r in missing} == {
        ("mlops serve", "append", ("storage.buckets.get",))
    }


# --- the runtime's pyarrow calls against Cloud Storage ---------------------------------------------------------


@dataclass
class Call:
    bucket: str
    api: str
    permission: str
    allowed: bool
    required: bool
    """pyarrow fails when this call fails (some, like probing parent folders, are attempts it tolerates)."""


@dataclass
class FakeGcs(pafs.FileSystemHandler):
    """Cloud Storage as pyarrow's GcsFileSystem uses it: every JSON API call checks its permission against
    ``granted`` (bucket -> permission patterns), in the order ``GcsFileSystem::Impl`` makes them."""

    granted: Mapping[str, set[str]]
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    # JSON API calls -----------------------------------------------------------------------------------------

    def _call(self, bucket: str, api: str, permission: str, required: bool = True) -> bool:
        allowed = holds(set(self.granted.get(bucket, ())), permission)
        self.calls.append(Call(bucket, api, permission, allowed, required))
        if not allowed and required:
            raise PermissionError(f"403 {api} gs://{bucket}: the caller lacks {permission}")
        return allowed

    def _get_object(self, bucket: str, name: str, required: bool = True) -> bytes | None:
        if not self._call(bucket, "GetObjectMetadata", "storage.objects.get", required):
            return None
        return self.objects.get((bucket, name))

    def _list(self, bucket: str, prefix: str) -> list[str]:
        self._call(bucket, "ListObjects", "storage.objects.list")
        return sorted(n for b, n in self.objects if b == bucket and n.startswith(prefix))

    def _insert(self, bucket: str, name: str, payload: bytes, required: bool = True) -> bool:
        if (bucket, name) in self.objects and not self._call(
            bucket, "InsertObject", "storage.objects.delete", required
        ):
            return False  # overwriting an object also needs storage.objects.delete
        if not self._call(bucket, "InsertObject", "storage.objects.create", required):
            return False
        self.objects[(bucket, name)] = payload
        return True

    def _delete(self, bucket: str, name: str) -> None:
        self._call(bucket, "DeleteObject", "storage.objects.delete")
        self.objects.pop((bucket, name), None)

    # pyarrow FileSystem operations ---------------------------------------------------------------------------

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        bucket, _, name = path.strip("/").partition("/")
        return bucket, name

    def _info(self, path: str) -> pafs.FileInfo:
        bucket, name = self._split(path)
        if not name:
            self._call(bucket, "GetBucketMetadata", "storage.buckets.get")
            return pafs.FileInfo(path, pafs.FileType.Directory)
        found = self._get_object(bucket, name)
        if found is not None:
            return pafs.FileInfo(path, pafs.FileType.File, size=len(found))
        if self._list(bucket, name.rstrip("/") + "/"):
            return pafs.FileInfo(path, pafs.FileType.Directory)
        return pafs.FileInfo(path, pafs.FileType.NotFound)

    def get_type_name(self) -> str:
        return "fake-gcs"

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return [self._info(p) for p in paths]

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        bucket, name = self._split(selector.base_dir)
        prefix = name.rstrip("/") + "/" if name else ""
        infos = []
        for key in self._list(bucket, prefix):
            rest = key[len(prefix) :]
            if not rest or (not selector.recursive and "/" in rest.rstrip("/")):
                continue
            kind = pafs.FileType.Directory if key.endswith("/") else pafs.FileType.File
            infos.append(pafs.FileInfo(f"{bucket}/{key.rstrip('/')}", kind, size=len(self.objects[(bucket, key)])))
        if not infos and not selector.allow_not_found and self._info(selector.base_dir).type != pafs.FileType.Directory:
            raise FileNotFoundError(selector.base_dir)
        return infos

    def create_dir(self, path: str, recursive: bool) -> None:
        bucket, name = self._split(path)
        missing: list[str] = []
        folder = name
        while folder:  # CreateDirMarkerRecursive: probe the folder and its parents, tolerating refusals
            if self._get_object(bucket, folder, required=False) is not None:
                break
            if self._get_object(bucket, folder + "/", required=False) is not None:
                break
            missing.append(folder)
            folder = folder.rpartition("/")[0]
        if not folder:
            self._call(bucket, "GetBucketMetadata", "storage.buckets.get")
        for folder in missing:
            self._insert(bucket, folder + "/", b"", required=False)

    def delete_dir(self, path: str) -> None:
        self.delete_dir_contents(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        bucket, name = self._split(path)
        for key in self._list(bucket, name.rstrip("/") + "/"):
            self._delete(bucket, key)

    def delete_root_dir_contents(self) -> None:
        raise PermissionError("the runtime never deletes a bucket's contents")

    def delete_file(self, path: str) -> None:
        bucket, name = self._split(path)
        if self._get_object(bucket, name) is None:
            raise FileNotFoundError(path)
        self._delete(bucket, name)

    def copy_file(self, src: str, dest: str) -> None:
        (bucket, name), (to_bucket, to_name) = self._split(src), self._split(dest)
        payload = self.objects[(bucket, name)]
        self._call(bucket, "RewriteObject", "storage.objects.get")
        self._insert(to_bucket, to_name, payload)

    def move(self, src: str, dest: str) -> None:
        if self._info(dest).type == pafs.FileType.Directory:
            raise OSError(f"{dest} is a directory")
        if self._info(src).type != pafs.FileType.File:
            raise FileNotFoundError(src)
        self._info(dest.rpartition("/")[0])
        self.copy_file(src, dest)
        self.delete_file(src)

    def open_input_stream(self, path: str) -> pa.NativeFile:
        bucket, name = self._split(path)
        self._call(bucket, "ReadObject", "storage.objects.get")
        if (bucket, name) not in self.objects:
            raise FileNotFoundError(path)
        return pa.BufferReader(self.objects[(bucket, name)])

    def open_input_file(self, path: str) -> pa.NativeFile:
        bucket, name = self._split(path)
        if self._get_object(bucket, name) is None:
            raise FileNotFoundError(path)
        return self.open_input_stream(path)

    def open_output_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        bucket, name = self._split(path)
        fake = self

        class Upload(io.BytesIO):
            def close(self) -> None:
                if not self.closed:
                    fake._insert(bucket, name, self.getvalue())
                super().close()

        return pa.PythonFile(Upload(), mode="w")

    def open_append_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        raise PermissionError("Cloud Storage cannot append; the runtime never asks to")

    def used(self) -> set[str]:
        """Permissions of the calls that were made and allowed."""
        return {c.permission for c in self.calls if c.allowed}


@pytest.fixture
def patched_gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Mapping[str, set[str]]], FakeGcs]]:
    """``make(granted)``: a FakeGcs that every ``pyarrow.fs.GcsFileSystem()`` the runtime constructs uses."""

    def make(grants: Mapping[str, set[str]]) -> FakeGcs:
        fake = FakeGcs(dict(grants))
        monkeypatch.setattr(pafs, "GcsFileSystem", lambda *a, **k: pafs.PyFileSystem(fake))
        return fake

    yield make


@pytest.fixture(scope="module")
def grants(previews: Previews) -> dict[tuple[str, str], set[str]]:
    """``(workload role, bucket role)`` -> permission patterns the gcp-dev stack grants."""
    result = previews("gcp-dev")
    graph = stack_graph(result.graph)
    names = result.graph.outputs["bucketNames"]
    subjects = {
        "server": ("mlops-serving", "server"),
        "drift": ("mlops-training", "drift"),
        "trainer": ("mlops-training", "trainer"),
    }
    project = result.spec.gcp_project or ""
    return {
        (role, bucket): granted(graph, ns, sa, names[bucket], project)
        for role, (ns, sa) in subjects.items()
        for bucket in names
    }


def test_the_server_writes_prediction_logs_with_its_grants(
    grants: dict[tuple[str, str], set[str]], patched_gcs: Callable[..., FakeGcs], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulumi_mlops.runtime.serving import prediction_log

    def run(permissions: set[str]) -> tuple[FakeGcs, int]:
        fake = patched_gcs({"logs": permissions})
        monkeypatch.setattr(
            prediction_log, "_filesystem", lambda uri, endpoint="": (pafs.PyFileSystem(fake), "logs/churn/stable")
        )
        logger = prediction_log.PredictionLogger(PredictionLogSpec(), "gs://logs/churn/stable", model="churn")
        logger.record("1", ("tenure",), {"tenure": np.array([3.0, 5.0])}, np.array([0.2, 0.7]), [("r1", 2)])
        return fake, logger.flush()

    fake, rows = run(grants[("server", "prediction-logs")])
    assert rows == 2 and any(name.endswith(".parquet") for _, name in fake.objects)
    assert fake.used() <= set(OPERATIONS["append"].gcs), fake.used()
    assert "storage.buckets.get" in fake.used(), "no object role can read the bucket's metadata"
    # Without the bucket-metadata grant pyarrow cannot create the partition folders: nothing is written.
    fake, rows = run(grants[("server", "prediction-logs")] - {"storage.buckets.get"})
    assert rows == 0 and fake.objects == {}
    assert [c.api for c in fake.calls if not c.allowed and c.required] == ["GetBucketMetadata"]


def test_drift_reports_and_audit_events_are_new_objects_only(
    grants: dict[tuple[str, str], set[str]], patched_gcs: Callable[..., FakeGcs]
) -> None:
    from pulumi_mlops.runtime.storage import put_object

    fake = patched_gcs({"logs": grants[("drift", "prediction-logs")], "models": grants[("drift", "models")]})
    put_object("gs://logs/drift-reports/churn/2026-01-01/report.json", b"{}", RuntimeSettings())
    put_object("gs://models/audit/event-1.json", b"{}", RuntimeSettings())
    assert fake.used() == set(OPERATIONS["put"].gcs) == {"storage.objects.create"}
    assert len(fake.objects) == 2


def test_the_drift_job_reads_its_window_with_its_grants(
    grants: dict[tuple[str, str], set[str]], patched_gcs: Callable[..., FakeGcs]
) -> None:
    from pulumi_mlops.runtime.drift.window import read_window

    fake = patched_gcs({"logs": grants[("drift", "prediction-logs")]})
    now = datetime.now(UTC)
    table = pa.table(
        {
            "tenure": [1.0, 2.0],
            "prediction": [0.1, 0.9],
            "timestamp": pa.array([now, now], pa.timestamp("us", tz="UTC")),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    fake.objects[("logs", f"churn/stable/date={now:%Y-%m-%d}/version=1/part-0.parquet")] = sink.getvalue().to_pybytes()
    window = read_window("gs://logs/churn/stable", since=now - timedelta(days=1))
    assert len(window.frame) == 2
    assert fake.used() <= set(OPERATIONS["read"].gcs), fake.used()


def test_batch_output_is_written_moved_and_rewritten_with_the_trainer_grants(
    grants: dict[tuple[str, str], set[str]], patched_gcs: Callable[..., FakeGcs]
) -> None:
    from pulumi_mlops.runtime.batch.storage import atomic_write, filesystem_for, read_text

    fake = patched_gcs({"datasets": grants[("trainer", "datasets")]})
    fs, root = filesystem_for("gs://datasets/scoring/churn-scores/run_id=1", RuntimeSettings())
    assert read_text(fs, f"{root}/manifest.json") is None
    atomic_write(fs, f"{root}/part-0.parquet", b"rows")
    atomic_write(fs, f"{root}/manifest.json", b"{}")
    atomic_write(fs, f"{root}/manifest.json", b'{"chunks": 1}')  # rewritten per chunk: an overwrite
    assert read_text(fs, f"{root}/manifest.json") == '{"chunks": 1}'
    assert fake.used() <= set(OPERATIONS["write"].gcs), fake.used()
    assert {"storage.objects.delete", "storage.objects.create"} <= fake.used()
