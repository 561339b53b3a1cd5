"""Packaging rules: the runtime never imports Pulumi, the CLI starts light, the schema is current."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

from pulumi_mlops.cli.schema import stack_file_schema
from pulumi_mlops.preview import repo_root

ROOT = repo_root()
HEAVY = ("torch", "mlflow", "feast", "sklearn", "pulumi_aws", "pulumi_gcp", "pulumi_kubernetes", "pandas")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_runtime_never_imports_pulumi() -> None:
    import pulumi_mlops.runtime as runtime

    packages = ["pulumi_mlops.runtime"] + [
        m.name for m in pkgutil.walk_packages(runtime.__path__, "pulumi_mlops.runtime.") if m.ispkg
    ]
    imports = "\n".join(f"import {p}" for p in packages)
    loaded = _loaded_after(imports)
    assert "pulumi" not in loaded, f"importing {packages} loaded pulumi"
    assert not any(m.startswith("pulumi_") and m != "pulumi_mlops" for m in loaded)


def test_cli_help_does_not_import_heavy_dependencies() -> None:
    loaded = _loaded_after(
        "import sys\nsys.argv = ['mlops', '--help']\nfrom pulumi_mlops.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    heavy = sorted(set(HEAVY) & loaded)
    assert heavy == [], f"mlops --help imported {heavy}"


def test_console_script_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "pulumi_mlops", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "preview" in out.stdout


def test_checked_in_schema_is_current() -> None:
    checked_in = json.loads((ROOT / "stacks" / "platform.schema.json").read_text())
    assert checked_in == stack_file_schema(), "run `make schema` and commit stacks/platform.schema.json"


def test_schema_validates_stack_files_for_editors() -> None:
    import jsonschema
    import yaml

    schema = stack_file_schema()
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert errors == [], f"{path.name}: {errors[0].message}"


def test_schema_rejects_a_typo_like_the_spec_does() -> None:
    import jsonschema
    import yaml

    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    doc["config"]["pulumi-mlops:platform"]["gpu_pool"] = []
    errors = list(jsonschema.Draft202012Validator(stack_file_schema()).iter_errors(doc))
    assert any("gpu_pool" in e.message for e in errors)
