"""Maps the top-level folders onto the ``pulumi_mlops`` import package (metadata is in pyproject.toml)."""

from pathlib import Path

from setuptools import setup

FOLDERS = {
    "pulumi_mlops": "pulumi_mlops",
    "pulumi_mlops.components": "components",
    "pulumi_mlops.runtime": "runtime",
    "pulumi_mlops.policies": "policies",
}

packages = []
for package, folder in FOLDERS.items():
    for init in sorted(Path(folder).rglob("__init__.py")):
        relative = init.parent.relative_to(folder).parts
        packages.append(".".join((package, *relative)))

setup(packages=packages, package_dir=FOLDERS)
