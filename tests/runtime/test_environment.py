"""The environment a run records: package versions from importlib.metadata and the git commit of its checkout."""

from __future__ import annotations

import subprocess
from importlib.metadata import version
from pathlib import Path

from pulumi_mlops.runtime.environment import capture_environment

ROOT = Path(__file__).resolve().parents[2]


def test_packages_and_the_commit_of_a_checkout_are_recorded(tmp_path: Path) -> None:
    inside = capture_environment("logistic_regression", cwd=ROOT)
    assert inside.packages["scikit-learn"] == version("scikit-learn")
    assert inside.packages["numpy"] == version("numpy") and inside.package_version == version("pulumi-mlops")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert inside.git_commit == head.stdout.strip() and inside.git_dirty is not None

    outside = capture_environment("logistic_regression", cwd=tmp_path)
    assert outside.git_commit is None and outside.git_dirty is None
    older = inside.model_copy(update={"packages": {**inside.packages, "numpy": "1.0.0"}})
    assert older.differences(inside) == [f"numpy 1.0.0 at training, {version('numpy')} now"]


def test_the_distribution_of_an_estimator_given_by_import_path_is_recorded() -> None:
    assert "threadpoolctl" not in capture_environment("logistic_regression").packages
    own = capture_environment("threadpoolctl:ThreadpoolController")
    assert own.packages["threadpoolctl"] == version("threadpoolctl")
