"""The code and packages a run executed with (``environment.json`` of a training run).

Recorded: the Python version and platform, this package's version, the git commit of the working directory
when the run is in a checkout (and whether it had uncommitted changes), and the installed versions
(``importlib.metadata``) of the packages that decide what a model computes (:data:`PACKAGES`), plus the
distribution providing an estimator given by import path.
"""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path

from pydantic import Field

from .config import StrictModel

__all__ = ["ENVIRONMENT_ARTIFACT", "PACKAGES", "RunEnvironment", "capture_environment", "distribution_of", "git_commit"]

ENVIRONMENT_ARTIFACT = "environment.json"
"""Run artifact holding the :class:`RunEnvironment` of the run."""
PACKAGES = (
    "pulumi-mlops",
    "scikit-learn",
    "numpy",
    "pandas",
    "scipy",
    "pyarrow",
    "cloudpickle",
    "torch",
    "optuna",
    "mlflow",
    "feast",
    "boto3",
    "gcsfs",
    "onnx",
    "skl2onnx",
    "shap",
)
"""Distributions whose installed versions are recorded (those not installed are left out)."""


class RunEnvironment(StrictModel):
    """What code a run executed."""

    python: str
    """Python version (``platform.python_version()``)."""
    platform: str
    """Operating system and machine (``platform.platform()``)."""
    package_version: str | None = None
    """Installed version of pulumi-mlops."""
    git_commit: str | None = None
    """Commit of the git checkout the run was started in; None outside a checkout."""
    git_dirty: bool | None = None
    """Whether that checkout had uncommitted changes to tracked files."""
    packages: dict[str, str] = Field(default_factory=dict)
    """Distribution name -> installed version."""

    def differences(self, now: RunEnvironment) -> list[str]:
        """What differs in ``now`` from this recorded environment, one line per item."""
        lines = []
        for name in sorted(set(self.packages) | set(now.packages)):
            then, current = self.packages.get(name, "not installed"), now.packages.get(name, "not installed")
            if then != current:
                lines.append(f"{name} {then} at training, {current} now")
        if self.python != now.python:
            lines.append(f"Python {self.python} at training, {now.python} now")
        if self.git_commit and self.git_commit != now.git_commit:
            lines.append(f"git commit {self.git_commit[:12]} at training, {(now.git_commit or 'none')[:12]} now")
        return lines

    def describe(self) -> str:
        """One line for the model card."""
        commit = "not in a git checkout"
        if self.git_commit:
            commit = f"git commit {self.git_commit[:12]}" + (" with uncommitted changes" if self.git_dirty else "")
        packages = ", ".join(f"{name} {v}" for name, v in sorted(self.packages.items()) if name != "pulumi-mlops")
        return f"pulumi-mlops {self.package_version or '(not installed)'}, {commit}; Python {self.python}; {packages}"


def _git(args: list[str], cwd: str | Path | None) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The current git commit, or None outside a repository or without git."""
    return _git(["rev-parse", "HEAD"], cwd) or None


def distribution_of(estimator: str) -> str | None:
    """The installed distribution that provides the module of an estimator given by import path, if any."""
    top = estimator.split(":", 1)[0].split(".", 1)[0]
    found = packages_distributions().get(top) or []
    return found[0] if found else None


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def capture_environment(estimator: str = "", cwd: str | Path | None = None) -> RunEnvironment:
    """The environment of this process; ``estimator`` adds the distribution of an estimator given by import path."""
    names = list(PACKAGES)
    extra = distribution_of(estimator) if ":" in estimator else None
    if extra and extra not in names:
        names.append(extra)
    packages = {name: found for name in names if (found := _installed(name)) is not None}
    commit = git_commit(cwd)
    dirty = None
    if commit:
        status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
        dirty = None if status is None else bool(status)
    return RunEnvironment(
        python=platform.python_version(),
        platform=platform.platform(),
        package_version=packages.get("pulumi-mlops"),
        git_commit=commit,
        git_dirty=dirty,
        packages=packages,
    )
