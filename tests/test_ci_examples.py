"""The CI pipelines of examples/ci, checked offline: the GitHub workflows pass actionlint (with shellcheck on their
scripts) and GitHub's workflow schema, the GitLab file validates against GitLab's published CI schema (as
check-jsonschema vendors it), the helper scripts pass shellcheck, every ``mlops`` command line the pipelines run
parses with the real CLI, and what the pipelines read matches what the stacks define and export."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command
from typer.testing import CliRunner

from pulumi_mlops.cli import app
from pulumi_mlops.preview import PreviewResult
from pulumi_mlops.spec import stack_names

ROOT = Path(__file__).resolve().parents[1]
CI = ROOT / "examples" / "ci"
WORKFLOWS = sorted((CI / "github").glob("*.yml"))
GITLAB = CI / "gitlab" / ".gitlab-ci.yml"
SCRIPTS = [CI / "with-registry.sh", CI / "gitlab" / "install-tools.sh", CI / "gitlab" / "cloud-login.sh"]
STACKS = stack_names(ROOT / "stacks")
DEPLOYED = {"staging": "aws", "prod": "aws", "gcp-prod": "gcp"}
"""The stacks the pipelines preview and deploy, and their clouds."""
Previews = Callable[[str], PreviewResult]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -c constraints.txt -e '.[dev]'"
    return found


def _run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def _workflow(name: str) -> dict[str, Any]:
    return _load(CI / "github" / name)


def _gitlab() -> dict[str, Any]:
    return _load(GITLAB)


# -- linters -------------------------------------------------------------------------------------------------------


def _actionlint(files: list[Path], tmp: Path) -> subprocess.CompletedProcess[str]:
    """actionlint on the workflows installed as a repository would hold them (deploy.yml calls the reusable
    ./.github/workflows/deploy-stack.yml, which actionlint opens and checks the call against)."""
    target = tmp / ".github" / "workflows"
    target.mkdir(parents=True)
    for path in files:
        shutil.copy(path, target / path.name)
    (tmp / ".git").mkdir()
    names = [str(Path(".github/workflows") / p.name) for p in files]
    return _run(_tool("actionlint"), "-no-color", "-shellcheck", _tool("shellcheck"), *names, cwd=tmp)


def test_github_workflows_pass_actionlint(tmp_path: Path) -> None:
    assert [p.name for p in WORKFLOWS] == ["deploy-stack.yml", "deploy.yml", "pull-request.yml"]
    result = _actionlint(WORKFLOWS, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda s: s.replace("          aws-region: ${{ fromJSON(vars.CI_IDENTITIES)[matrix.stack].region }}\n", ""),
         'missing input "aws-region"'),
        (lambda s: s.replace("role-to-assume:", "role-to-asume:", 1), 'input "role-to-asume" is not defined'),
        (lambda s: s.replace('"$STACK"', "$STACK", 1), "SC2086"),
        (lambda s: s.replace("${{ matrix.stack }}", "${{ matrix.stak }}", 1), 'property "stak" is not defined'),
    ],
    ids=["missing-input", "unknown-input", "shellcheck", "expression"],
)  # fmt: skip
def test_actionlint_catches_a_broken_workflow(tmp_path: Path, change: Callable[[str], str], fragment: str) -> None:
    broken = tmp_path / "src" / "pull-request.yml"
    broken.parent.mkdir()
    broken.write_text(change((CI / "github" / "pull-request.yml").read_text()))
    result = _actionlint([broken], tmp_path / "repo")
    assert result.returncode == 1 and fragment in result.stdout, result.stdout + result.stderr


def test_github_workflows_match_the_workflow_schema() -> None:
    result = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def _gitlab_schema(path: Path) -> subprocess.CompletedProcess[str]:
    command = [_tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci"]
    return _run(*command, str(path))


def test_gitlab_pipeline_validates_against_the_gitlab_ci_schema() -> None:
    result = _gitlab_schema(GITLAB)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [("      when: manual", "      when: sometimes"), ("  allow_failure: false", "  allow_failure: maybe")],
    ids=["when", "allow-failure"],
)
def test_the_schema_refuses_a_broken_gitlab_pipeline(tmp_path: Path, old: str, new: str) -> None:
    broken = tmp_path / ".gitlab-ci.yml"
    text = GITLAB.read_text()
    assert old in text
    broken.write_text(text.replace(old, new, 1))
    assert _gitlab_schema(broken).returncode == 1


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_helper_scripts_pass_shellcheck(script: Path) -> None:
    result = _run(_tool("shellcheck"), "--severity=style", str(script))
    assert result.returncode == 0, result.stdout


# -- the commands the pipelines run --------------------------------------------------------------------------------


def _expand(text: str, env: dict[str, str]) -> str:
    """``${{ matrix.x }}``/``${{ inputs.x }}`` from ``env`` (other expressions become a placeholder), then ``$VAR``."""
    text = re.sub(r"\$\{\{\s*(?:matrix|inputs)\.(\w+)\s*\}\}", lambda m: env.get(m.group(1), "X"), text)
    text = re.sub(r"\$\{\{.*?\}\}", "X", text)
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), "X"), text)


def _command_lines(script: str) -> Iterator[list[str]]:
    for line in script.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield shlex.split(line)


def _github_runs() -> Iterator[tuple[str, dict[str, str], str]]:
    """``(where, variables, script)`` of every run step, once per matrix entry (and per stack for the reusable
    deploy workflow, with the inputs deploy.yml passes)."""
    calls = [job["with"] for job in _workflow("deploy.yml")["jobs"].values()]
    for path in WORKFLOWS:
        doc = _load(path)
        for job_name, job in doc["jobs"].items():
            matrix = job.get("strategy", {}).get("matrix", {})
            combos: list[dict[str, str]] = [dict(c) for c in matrix.get("include", [])] or [
                {k: v} for k, values in matrix.items() for v in values
            ]
            if path.name == "deploy-stack.yml":
                combos = [dict(c) for c in calls]
            for combo in combos or [{}]:
                env = {
                    **combo,
                    **{k: _expand(str(v), combo) for k, v in {**doc.get("env", {}), **job.get("env", {})}.items()},
                }
                for step in job.get("steps", []):
                    if "run" in step:
                        step_env = {**env, **{k: _expand(str(v), env) for k, v in step.get("env", {}).items()}}
                        yield f"{path.name}:{job_name}", step_env, step["run"]


def _resolved(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """A GitLab job with its ``extends`` merged in (GitLab merges mappings deeply; later templates win)."""
    job = doc[name]
    parents = job.get("extends", [])
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        base = _resolved(doc, parent)
        merged = {**merged, **base, "variables": {**merged.get("variables", {}), **base.get("variables", {})}}
    return {**merged, **job, "variables": {**merged.get("variables", {}), **job.get("variables", {})}}


def _gitlab_runs() -> Iterator[tuple[str, dict[str, str], str]]:
    doc = _gitlab()
    for name, value in doc.items():
        if name.startswith(".") or not isinstance(value, dict) or name in ("variables", "default", "workflow"):
            continue
        job = _resolved(doc, name)
        if "script" not in job:
            continue
        matrix = job.get("parallel", {}).get("matrix", [{}])
        combos = [{k: v} for entry in matrix for k, values in entry.items() for v in values] or [{}]
        for combo in combos:
            env = {**{k: str(v) for k, v in doc.get("variables", {}).items()}, **job["variables"], **combo}
            yield f".gitlab-ci.yml:{name}", env, "\n".join(job["script"])


def _mlops_commands(runs: Iterator[tuple[str, dict[str, str], str]]) -> list[tuple[str, list[str]]]:
    found = []
    for where, env, script in runs:
        for words in _command_lines(_expand(script, env)):
            for i, word in enumerate(words):
                if Path(word).name == "mlops":
                    found.append((where, words[i + 1 :]))
                    break
    return found


def _parse(args: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse an ``mlops`` command line with the real CLI, without running it."""
    command: Any = get_command(app)
    words, path = list(args), []
    while hasattr(command, "commands"):
        head = words.pop(0)
        assert head in command.commands, f"mlops {' '.join(path)} has no command {head!r}"
        path.append(head)
        command = command.commands[head]
    ctx = command.make_context(" ".join(["mlops", *path]), words)
    return " ".join(path), dict(ctx.params)


ALL_COMMANDS = _mlops_commands(_github_runs()) + _mlops_commands(_gitlab_runs())


@pytest.mark.parametrize(("where", "args"), ALL_COMMANDS, ids=[f"{w}:{' '.join(a[:2])}" for w, a in ALL_COMMANDS])
def test_every_mlops_command_line_parses(where: str, args: list[str]) -> None:
    name, params = _parse(args)
    if "stack" in params:
        assert params["stack"] in STACKS, f"{where}: mlops {name} --stack {params['stack']}: no such stack"


def test_the_pipelines_run_each_gate() -> None:
    for runs in (_github_runs, _gitlab_runs):
        parsed = [_parse(args) for _, args in _mlops_commands(runs())]
        policy = {p["stack"] for n, p in parsed if n == "policy" and p["sarif"] is not None}
        assert policy == set(STACKS), "mlops policy with SARIF on every stack"
        assert {p["stack"] for n, p in parsed if n == "policy" and p["config_out"] is not None} == set(DEPLOYED)
        checks = {p["stack"] for n, p in parsed if n == "registry apply-champions" and p["check"]}
        assert checks == set(STACKS)
        applied = {p["stack"] for n, p in parsed if n == "registry apply-champions" and not p["check"]}
        assert applied == set(DEPLOYED)
        (train,) = [p for n, p in parsed if n == "train"]
        assert train["schema"] is not None and train["config"] is not None and train["promote_after"]


def test_the_pulumi_commands_use_the_policy_pack() -> None:
    for runs in (_github_runs, _gitlab_runs):
        lines = [
            (words[1], words)
            for _, env, script in runs()
            for words in _command_lines(_expand(script, env))
            if words[:1] == ["pulumi"]
        ]
        stacks: dict[str, set[str]] = {"preview": set(), "up": set()}
        for verb, words in lines:
            stack = words[words.index("--stack") + 1]
            assert words[words.index("--policy-pack") + 1] == "policies"
            assert words[words.index("--policy-pack-config") + 1] == f"policy-config.{stack}.json"
            stacks[verb].add(stack)
        assert stacks == {"preview": set(DEPLOYED), "up": set(DEPLOYED)}


# -- deployment order, approvals and concurrency ------------------------------------------------------------------


def test_github_deploys_staging_then_production_behind_environments(previews: Previews) -> None:
    jobs = _workflow("deploy.yml")["jobs"]
    assert _workflow("deploy.yml")[True] == {"push": {"branches": ["main"]}}, "YAML 1.1 reads the key on as true"
    assert {job["with"]["stack"]: job.get("needs") for job in jobs.values()} == {
        "staging": None,
        "prod": "staging",
        "gcp-prod": "staging",
    }
    for job in jobs.values():
        stack, environment = job["with"]["stack"], job["with"]["environment"]
        assert job["with"]["cloud"] == DEPLOYED[stack]
        ci = previews(stack).spec.ci
        assert ci is not None and ci.repository and environment in ci.environments, (
            f"{stack}: the deploy identity must trust the environment {environment} the job runs in"
        )
    up = _workflow("deploy-stack.yml")["jobs"]["up"]
    assert up["environment"] == "${{ inputs.environment }}"
    assert up["concurrency"] == {"group": "pulumi-up-${{ inputs.stack }}", "cancel-in-progress": False}


def test_gitlab_deploys_staging_then_production_manually_one_run_per_stack() -> None:
    doc = _gitlab()
    deploys = {name: job for name, job in doc.items() if name.startswith("deploy-")}
    assert {job["variables"]["STACK"] for job in deploys.values()} == set(DEPLOYED)
    assert doc[".deploy"]["resource_group"] == "pulumi-$STACK"
    for job in deploys.values():
        manual = [r.get("when") for r in job.get("rules", [])]
        if job["variables"]["STACK"] == "staging":
            assert manual == [] and "needs" not in job
        else:
            assert manual == ["manual"] and job["needs"] == ["deploy-staging"] and job["allow_failure"] is False
            assert job["environment"]["name"] in ("production", "gcp-production")


def test_the_identities_the_pipelines_read_are_what_the_stacks_export(previews: Previews) -> None:
    texts = [p.read_text() for p in [*WORKFLOWS, *SCRIPTS]]
    read = set(re.findall(r"fromJSON\(vars\.CI_IDENTITIES\)\[[\w.]+\]\.(\w+)", "\n".join(texts)))
    read |= set(re.findall(r"ci_identity \"?(\w+)", "\n".join(texts)))
    read |= {
        f"{p}{s}"
        for p in ("deploy", "preview")
        for s in ("RoleArn", "ServiceAccount")
        if "${ci_purpose}" + s in texts[-1]
    }
    exported = {cloud: set(previews(stack).graph.outputs["ciDeployer"]) for stack, cloud in DEPLOYED.items()}
    assert read, "the pipelines read the CI identities"
    assert read <= exported["aws"] | exported["gcp"], read - exported["aws"] - exported["gcp"]
    assert {"deployRoleArn", "previewRoleArn", "region"} <= exported["aws"]
    assert {"workloadIdentityProvider", "deployServiceAccount", "previewServiceAccount"} <= exported["gcp"]


# -- the files the pipelines read ----------------------------------------------------------------------------------


def test_the_smoke_training_config_and_schema_validate_generated_data() -> None:
    from pulumi_mlops.runtime.data import DataValidationError, generate_churn, validate_frame
    from pulumi_mlops.runtime.training import load_training_spec
    from pulumi_mlops.runtime.training.specs import load_validation_schema

    spec = load_training_spec(CI / "train-smoke.yaml")
    assert spec.search_trials == 0 and spec.data.startswith("generated://churn")
    schema = load_validation_schema(CI / "churn-schema.yaml", label=spec.label)
    assert validate_frame(generate_churn(500, seed=1), schema).ok
    broken = generate_churn(500, seed=1).drop(columns=["tenure_months"])
    with pytest.raises(DataValidationError, match="tenure_months \\(missing\\)"):
        validate_frame(broken, schema)


@pytest.mark.parametrize("stack", STACKS)
def test_the_champions_file_matches_every_stack(stack: str) -> None:
    result = CliRunner().invoke(
        app, ["registry", "apply-champions", "--file", str(CI / "champions.yaml"), "--stack", stack, "--check",
              "--stacks-dir", str(ROOT / "stacks")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ("checked" in result.output) == (stack in DEPLOYED)
