"""The peers the benchmarks compare against, each in its own virtual environment.

A peer (Evidently, FLAML, MLServer, ...) is never a dependency of this project: ``bench/peers/<name>.txt``
pins what it needs, and :func:`peer_python` creates ``.bench-envs/<name>`` from that file on first use
(``pip install -r``, the same constraints for torch as the project) and returns its interpreter. The
environment is rebuilt when the requirement file changes. An environment variable
``<NAME>_PYTHON`` (``EVIDENTLY_PYTHON``, ``FLAML_PYTHON``, ...) points at an interpreter to use instead.
A peer that does not install is reported and skipped; the benchmark then times this project alone.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["peer_python", "peer_versions"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ENVS = ROOT / ".bench-envs"
INSTALL_TIMEOUT_S = 1800


def _requirements(name: str) -> Path:
    path = HERE / "peers" / f"{name}.txt"
    if not path.is_file():
        known = sorted(p.stem for p in (HERE / "peers").glob("*.txt"))
        raise ValueError(f"no requirement file bench/peers/{name}.txt; known peers: {', '.join(known)}")
    return path


def peer_python(name: str) -> Path | None:
    """The interpreter of peer ``name``'s environment, created from ``bench/peers/<name>.txt`` if needed.

    None (with the reason printed) when the peer cannot be installed on this machine.
    """
    override = os.environ.get(f"{name.upper()}_PYTHON")
    if override:
        return Path(override) if Path(override).exists() else None
    requirements = _requirements(name)
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    env = ENVS / name
    python = env / "bin" / "python"
    stamp = env / f".installed-{digest}"
    if stamp.exists() and python.exists():
        return python
    print(f"creating the {name} peer environment in {env} from {requirements.relative_to(ROOT)} ...", flush=True)
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)],
            check=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"{name} peer unavailable: installing {requirements.name} failed ({exc}); skipping it", flush=True)
        return None
    for old in env.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return python


def peer_versions(python: Path, *packages: str) -> dict[str, str]:
    """Installed versions of ``packages`` in the environment of ``python`` (for the results file)."""
    script = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError:\n"
        "        out[p] = 'absent'\n"
        "print(json.dumps(out))\n"
    )
    import json

    done = subprocess.run([str(python), "-c", script, *packages], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))
