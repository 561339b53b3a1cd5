"""The images the stack builds: docker-build Images pushed to the stack's own registry, and every runtime workload
and the MLflow server running them by digest (both clouds), unless the spec names prebuilt images."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi_mlops.components.images import IMAGE_BUILDS, context_digest, context_files, find_build_context
from pulumi_mlops.components.k8s import ClusterContext
from pulumi_mlops.components.k8s.platform_services import workload_images

from pulumi_mlops.preview import PreviewResult, repo_root, run_program
from pulumi_mlops.preview.graph import CapturedResource, ResourceGraph, is_secret
from pulumi_mlops.preview.mocks import OUTPUTS, PlatformMocks
from pulumi_mlops.spec import CONFIG_KEY, SpecError, load_stack_config, parse_spec, stack_file

Previews = Callable[[str], PreviewResult]
IMAGE = "docker-build:index:Image"
STACKS = ("dev", "staging", "prod", "gcp-dev", "gcp-prod")
FEAST = "quay.io/feastdev/"
PINS = dict(line.split("==", 1) for line in (repo_root() / "constraints.txt").read_text().split() if "==" in line)
PACKAGE_VERSION = tomllib.loads((repo_root() / "pyproject.toml").read_text())["project"]["version"]


def _pods(res: CapturedResource) -> Iterator[dict[str, Any]]:
    spec = res.props.get("spec") or {}
    if res.type == "kubernetes:batch/v1:CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if res.type.startswith(("kubernetes:apps/v1:", "kubernetes:batch/v1:")):
        pod = (spec.get("template") or {}).get("spec")
        if pod:
            yield pod


def _containers(graph: ResourceGraph) -> Iterator[tuple[CapturedResource, dict[str, Any]]]:
    for res in graph.resources.values():
        for pod in _pods(res):
            for c in [*(pod.get("initContainers") or []), *pod["containers"]]:
                yield res, c


def _built(graph: ResourceGraph) -> dict[str, CapturedResource]:
    """Image builds by image name (``mlops-images-<name>``)."""
    return {r.name.removeprefix("mlops-images-"): r for r in graph.of_type(IMAGE)}


def _digest(build: CapturedResource) -> str:
    """The ``digest`` output the mocks answered for the build."""
    digest: str = OUTPUTS[IMAGE](PlatformMocks(), build.name, build.props)["digest"]
    return digest


def _own_repositories(result: PreviewResult) -> dict[str, str]:
    out = result.graph.outputs
    if result.spec.cloud == "aws":
        return dict(out["ecrRepositoryUrls"])
    return {r: f"{out['registryUrl']}/{r}" for r in result.spec.registry.repositories}


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_builds_its_images_and_pushes_them_to_its_own_registry(previews: Previews, stack: str) -> None:
    result = previews(stack)
    graph, spec = result.graph, result.spec
    builds = _built(graph)
    assert sorted(builds) == sorted(spec.built_images) == ["mlflow", "runtime", "runtime-cuda"]
    repos = _own_repositories(result)
    repo_types = {"aws": "aws:ecr/repository:Repository", "gcp": "gcp:artifactregistry/repository:Repository"}
    repo_urns = {r.urn for r in graph.of_type(repo_types[spec.cloud])}
    for image, build in builds.items():
        props = build.props
        assert props["push"] is True and props["buildOnPreview"] is False, image
        assert props["dockerfile"] == {"location": IMAGE_BUILDS[image].dockerfile}
        assert props["context"] == {"location": "."}
        assert props.get("buildArgs", {}) == dict(IMAGE_BUILDS[image].build_args)
        assert props["platforms"] == ["linux/amd64"]
        (tag,) = props["tags"]
        repository = repos["mlflow" if image == "mlflow" else "runtime"]
        version = (
            PINS["mlflow"] if image == "mlflow" else PACKAGE_VERSION + ("-cuda" if image == "runtime-cuda" else "")
        )
        assert re.fullmatch(rf"{re.escape(repository)}:{re.escape(version)}-[0-9a-f]{{12}}", tag), tag
        assert set(build.property_dependencies["tags"]) & repo_urns, "the push waits for the repository"
        assert is_secret(build.inputs["registries"])
        (login,) = props["registries"]
        if spec.cloud == "aws":
            assert login["username"] == "AWS" and login["password"] == "preview-ecr-token"
            assert login["address"] == repository.split("/", 1)[0]
        else:
            assert login["username"] == "oauth2accesstoken" and login["password"].startswith("ya29.")
            assert login["address"] == f"{spec.region}-docker.pkg.dev"


@pytest.mark.parametrize("stack", STACKS)
def test_every_runtime_workload_and_mlflow_run_the_build_by_digest(previews: Previews, stack: str) -> None:
    result = previews(stack)
    graph, spec = result.graph, result.spec
    builds = _built(graph)
    refs: dict[str, str] = {}
    for image, build in builds.items():
        digest = _digest(build)
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
        ref = OUTPUTS[IMAGE](PlatformMocks(), build.name, build.props)["ref"]
        assert ref == f"{build.props['tags'][0]}@{digest}", "the provider's ref: the tag with the pushed digest"
        refs[image] = f"{build.props['tags'][0].rsplit(':', 1)[0]}@{digest}"
    assert graph.outputs["imageRefs"] == refs
    gpu_names = {e.name for e in spec.endpoints if e.resources.gpus}
    gpu_names |= {t.name for t in spec.training if t.resources.gpus} | {
        b.name for b in spec.batch_jobs if b.resources.gpus
    }
    seen: set[str] = set()
    for res, c in _containers(graph):
        if c["image"].startswith(FEAST):
            continue
        owner = res.props["metadata"]["name"]
        if c["image"] == refs["mlflow"]:
            assert owner == "mlflow", owner
        elif c["image"] == refs["runtime-cuda"]:
            assert any(n in owner for n in gpu_names), f"{owner} belongs to a workload that requests GPUs"
        else:
            assert c["image"] == refs["runtime"], (owner, c["image"])
        if (c.get("resources") or {}).get("limits", {}).get("nvidia.com/gpu"):
            assert c["image"] == refs["runtime-cuda"], f"{owner} runs on GPUs: the CUDA variant"
        seen.add(c["image"])
        build = builds[next(k for k, v in refs.items() if v == c["image"])]
        deps = {u for urns in res.property_dependencies.values() for u in urns}
        assert build.urn in deps, f"{owner} waits for the push of the image it runs"
    assert seen == set(refs.values())


def _config(stack: str, **images: str) -> tuple[dict[str, Any], Any]:
    path = stack_file(stack, repo_root() / "stacks")
    config = copy.deepcopy(load_stack_config(path))
    config[CONFIG_KEY]["images"] = images
    return config, parse_spec(config[CONFIG_KEY])


@pytest.mark.parametrize("stack", ["dev", "gcp-dev"])
def test_explicit_images_are_used_as_is_and_disable_the_build(stack: str) -> None:
    runtime, mlflow = "ghcr.io/acme/runtime@sha256:" + "a" * 64, "ghcr.io/acme/mlflow:3.17.2"
    config, spec = _config(stack, runtime=runtime, mlflow=mlflow)
    mocks = PlatformMocks(region=spec.region, gcp_project=spec.gcp_project or "preview-project")
    graph = run_program(repo_root() / "stacks" / "__main__.py", config, stack=stack, mocks=mocks)
    assert graph.of_type(IMAGE) == []
    images = {c["image"] for _, c in _containers(graph) if not c["image"].startswith(FEAST)}
    assert images == {runtime, mlflow}
    assert graph.outputs["imageRefs"] == {}


def test_a_given_runtime_builds_only_the_mlflow_image() -> None:
    config, spec = _config("dev", runtime="ghcr.io/acme/runtime:1.2.3")
    assert spec.built_images == ["mlflow"]
    graph = run_program(repo_root() / "stacks" / "__main__.py", config, stack="dev", mocks=PlatformMocks())
    assert [r.name for r in graph.of_type(IMAGE)] == ["mlops-images-mlflow"]
    images = {c["image"] for _, c in _containers(graph) if not c["image"].startswith(FEAST)}
    assert "ghcr.io/acme/runtime:1.2.3" in images and len(images) == 2


def test_a_stack_without_gpu_runtime_workloads_builds_no_cuda_variant() -> None:
    config, _ = _config("dev")
    platform = config[CONFIG_KEY]
    for workload in [*platform["endpoints"], *platform.get("training", []), *platform.get("batch_jobs", [])]:
        workload.pop("gpu_pool", None)
        if "resources" in workload:
            workload["resources"].pop("gpus", None)
        if isinstance(workload.get("shadow"), dict):
            workload["shadow"].pop("resources", None)
    assert parse_spec(platform).built_images == ["runtime", "mlflow"]


def test_given_images_must_be_pinned_and_built_ones_need_their_repository() -> None:
    config, _ = _config("dev")
    with pytest.raises(SpecError, match="is not pinned"):
        parse_spec({**config[CONFIG_KEY], "images": {"mlflow": "ghcr.io/acme/mlflow:latest"}})
    with pytest.raises(SpecError, match=r"registry.repositories: lacks 'mlflow'.*images.mlflow"):
        parse_spec({**config[CONFIG_KEY], "registry": {"repositories": ["runtime"]}})
    given = parse_spec(
        {**config[CONFIG_KEY], "registry": {"repositories": ["runtime"]}, "images": {"mlflow": "ghcr.io/a/m:1"}}
    )
    assert given.built_images == ["runtime", "runtime-cuda"]


def test_services_without_a_build_or_a_given_image_refuse_to_start() -> None:
    _, spec = _config("dev")
    ref = "r@sha256:" + "0" * 64
    ctx = ClusterContext(provider=None, cloud="aws", bucket_uris={}, images={"runtime": ref})
    with pytest.raises(ValueError, match=r"spec.images.mlflow is empty and ClusterContext.images has no 'mlflow'"):
        workload_images(spec, ctx)
    ctx.images = {k: f"{k}@sha256:" + "0" * 64 for k in ("runtime", "runtime-cuda", "mlflow")}
    assert set(workload_images(spec, ctx)) == {"runtime", "runtime-cuda", "mlflow"}


def test_the_tag_hash_follows_the_build_context_and_ignores_what_dockerignore_drops(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*\n!app/\n**/__pycache__\n")
    (tmp_path / "app" / "__pycache__").mkdir(parents=True)
    (tmp_path / "app" / "main.py").write_text("print(1)\n")
    (tmp_path / "notes.txt").write_text("left out\n")
    assert context_files(tmp_path) == ["app/main.py"]
    before = context_digest(tmp_path, "VARIANT=cpu")
    (tmp_path / "notes.txt").write_text("changed, still left out\n")
    (tmp_path / "app" / "__pycache__" / "main.pyc").write_bytes(b"\0")
    assert context_digest(tmp_path, "VARIANT=cpu") == before
    assert context_digest(tmp_path, "VARIANT=cuda") != before
    (tmp_path / "app" / "main.py").write_text("print(2)\n")
    assert context_digest(tmp_path, "VARIANT=cpu") != before


def test_the_repository_context_sends_what_the_dockerfiles_copy() -> None:
    root = find_build_context()
    assert root == repo_root()
    files = context_files(root)
    assert {"constraints.txt", "pyproject.toml", "setup.py", "README.md"} <= set(files)
    assert any(f.startswith("runtime/") for f in files) and any(f.startswith("pulumi_mlops/") for f in files)
    assert not any(f.startswith((".venv/", "tests/", "stacks/", "docker/")) or f.endswith(".pyc") for f in files)
