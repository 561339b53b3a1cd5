"""The ``mlops`` command line.

Each module in this package adds its commands through ``register(app)``. Modules import their
heavy dependencies (torch, mlflow, feast, Pulumi providers) inside the command functions, so
``mlops --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from pulumi_mlops.runtime.cpus import limit_threads

__all__ = ["app", "main"]

# Before any command imports numpy, scikit-learn or torch: their thread pools size themselves when they load.
limit_threads()

app = typer.Typer(
    name="mlops",
    help="pulumi-mlops: preview and check the platform offline, and train, serve and monitor models on it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_module}").register(app)


def main() -> None:
    app()
