"""``make mutation``: mutmut over the resource checks of the pack; fails below the threshold of mutants killed.

Stages the pack (``tools/mutation_stage.py``) in ``.mutation/``, runs ``mutmut run`` there with the ``[tool.mutmut]``
settings of pyproject.toml, reads ``mutmut results --all true`` and scores each module: killed (or timed out) over
the mutants it counts. ``tools/mutation_allowlist.toml`` names what it does not count, each with its reason: helpers
only a stack-level policy reaches (``outside``) and equivalent mutants, matched by function and changed line rather
than by mutmut's numbering (``equivalent``). An entry that matches nothing fails the gate, so the list cannot rot.

    python -m tools.mutation_gate [--threshold 90] [--max-children N] [--incremental] [--report-only]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.mutation_stage import stage

__all__ = ["Allowlist", "Change", "Equivalent", "Mutant", "Outside", "Score", "main", "parse_results", "score"]

ROOT = Path(__file__).resolve().parents[1]
STAGING = ROOT / ".mutation"
ALLOWLIST = ROOT / "tools" / "mutation_allowlist.toml"
THRESHOLD = 90.0
DETECTED = frozenset({"killed", "timeout"})
"""Statuses that count as killed: a test failed, or the mutant made the tests run past mutmut's timeout."""

_NAME = re.compile(r"^(?P<module>[\w.]+?)\.x(?:_|ǁ)(?P<function>.+)__mutmut_(?P<number>\d+)$")


class Outside(BaseModel):
    """A function of a mutated module that the gate does not count."""

    model_config = ConfigDict(extra="forbid")

    function: str = Field(pattern=r"^policies\.[\w.]+$")
    """``module.function`` as mutmut names it, e.g. ``policies.registry.image_repository``."""
    reason: str = Field(min_length=10)
    """Why no fast test can reach it (which stack-level policy uses it)."""


class Change(BaseModel):
    """One equivalent mutant, matched by its function and the line it changes rather than by mutmut's number."""

    model_config = ConfigDict(extra="forbid")

    function: str = Field(pattern=r"^policies\.[\w.]+$")
    """``module.function`` as mutmut names it."""
    original: str = Field(min_length=1)
    """The changed line as it is in the source, stripped."""
    mutated: str = Field(min_length=1)
    """The line as the mutant has it, stripped."""


class Equivalent(BaseModel):
    """Mutants that cannot change behaviour, for one reason."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=10)
    """Why no input can tell these mutants from the original."""
    mutants: list[Change] = Field(min_length=1)
    """The mutants it covers."""


class Allowlist(BaseModel):
    """``tools/mutation_allowlist.toml``."""

    model_config = ConfigDict(extra="forbid")

    outside: list[Outside] = []
    """Functions not counted."""
    equivalent: list[Equivalent] = []
    """Equivalent mutants not counted."""


@dataclass(frozen=True)
class Mutant:
    """One line of ``mutmut results --all true``."""

    name: str
    module: str
    function: str
    status: str

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.function.replace('ǁ', '.')}"


@dataclass
class Score:
    """What the gate found."""

    killed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    counted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    equivalent: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    survivors: list[Mutant] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def percent(self) -> float:
        total = sum(self.counted.values())
        return 100.0 * sum(self.killed.values()) / total if total else 0.0


def parse_results(text: str) -> list[Mutant]:
    """The mutants listed by ``mutmut results --all true`` (``    policies.x.x_f__mutmut_3: killed``)."""
    mutants = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, status = line.strip().rpartition(": ")
        match = _NAME.match(name)
        if not sep or not match:
            raise ValueError(f"unexpected line in `mutmut results`: {line!r}")
        mutants.append(Mutant(name, match["module"], match["function"], status))
    return mutants


def changed_lines(diff: str) -> tuple[str, str]:
    """The removed and the added lines of a unified diff (``mutmut show``), each stripped and joined by newlines."""
    removed, added = [], []
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            removed.append(line[1:].strip())
        elif line.startswith("+"):
            added.append(line[1:].strip())
    return "\n".join(removed), "\n".join(added)


def score(mutants: Iterable[Mutant], allowlist: Allowlist, show: Callable[[str], str]) -> Score:
    """Scores ``mutants``; ``show(name)`` is the diff of a mutant (only asked for survivors the allow-list names)."""
    result = Score()
    outside = {o.function for o in allowlist.outside}
    changes = [change for group in allowlist.equivalent for change in group.mutants]
    equivalents: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        equivalents[change.function].append(change)
    seen_outside: set[str] = set()
    matched: set[int] = set()
    for mutant in mutants:
        if mutant.qualified in outside:
            seen_outside.add(mutant.qualified)
            result.outside.append(mutant.name)
            continue
        if mutant.status not in DETECTED and mutant.qualified in equivalents:
            lines = changed_lines(show(mutant.name))
            entry = next((e for e in equivalents[mutant.qualified] if (e.original, e.mutated) == lines), None)
            if entry is not None:
                matched.add(id(entry))
                result.equivalent.append(mutant.name)
                continue
        result.counted[mutant.module] += 1
        if mutant.status in DETECTED:
            result.killed[mutant.module] += 1
        else:
            result.survivors.append(mutant)
    result.stale += [f"outside {f}: no mutant of it" for f in sorted(outside - seen_outside)]
    result.stale += [
        f"equivalent {c.function}: no surviving mutant changes {c.original!r} to {c.mutated!r}"
        for c in changes
        if id(c) not in matched
    ]
    return result


def load_allowlist(path: Path) -> Allowlist:
    """The allow-list; a bad entry is a ``SystemExit`` naming the field."""
    try:
        return Allowlist.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except tomllib.TOMLDecodeError as e:
        raise SystemExit(f"{path}: not valid TOML ({e})") from None
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise SystemExit(f"{path}: {problems} (see the file's header for the fields of an entry)") from None


def _mutmut(args: Sequence[str], log: Path | None = None) -> str:
    command = [sys.executable, "-m", "mutmut", *args]
    if log is None:
        done = subprocess.run(command, cwd=STAGING, capture_output=True, text=True, check=False)
        output, code = done.stdout, done.returncode
    else:
        with log.open("w", encoding="utf-8") as out:
            code = subprocess.run(command, cwd=STAGING, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
        output = log.read_text(encoding="utf-8", errors="replace")
    if code != 0:
        tail = output.replace("\r", "\n").strip().splitlines()[-20:]
        raise SystemExit(f"`mutmut {' '.join(args)}` exited {code}:\n" + "\n".join(tail))
    return output


def report(result: Score, threshold: float) -> str:
    lines = [f"{'module':28} {'killed':>7} {'counted':>7} {'score':>6}"]
    for module in sorted(result.counted):
        killed, counted = result.killed[module], result.counted[module]
        lines.append(f"{module:28} {killed:7} {counted:7} {100.0 * killed / counted:5.1f}%")
    total = sum(result.counted.values())
    lines.append(f"{'all':28} {sum(result.killed.values()):7} {total:7} {result.percent:5.1f}%  (gate {threshold}%)")
    lines.append(f"not counted: {len(result.equivalent)} equivalent, {len(result.outside)} outside the gate")
    lines += [f"  {m.status}: {m.name}  (mutmut show {m.name})" for m in result.survivors]
    lines += [f"stale allow-list entry, remove it: {s}" for s in result.stale]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help="lowest killed %% that passes")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2, help="parallel mutant runs")
    parser.add_argument("--incremental", action="store_true", help="keep mutmut's results for unchanged functions")
    parser.add_argument("--report-only", action="store_true", help="score the last run without running mutmut")
    args = parser.parse_args(argv)
    if not 0 < args.threshold <= 100:
        parser.error(f"--threshold {args.threshold}: give a percentage in (0, 100]")
    allowlist = load_allowlist(ALLOWLIST)
    started = time.monotonic()
    if not args.report_only:
        if not args.incremental and (STAGING / "mutants").exists():
            shutil.rmtree(STAGING / "mutants")
        unwrapped = stage(ROOT, STAGING)
        print(f"staged the pack in {STAGING} ({unwrapped} resource checks made mutable); running mutmut")
        _mutmut(["run", "--max-children", str(args.max_children)], log=STAGING / "mutmut-run.log")
    elif not (STAGING / "mutants").exists():
        raise SystemExit(f"--report-only: no results in {STAGING / 'mutants'}; run without it first")
    mutants = parse_results(_mutmut(["results", "--all", "true"]))
    if not mutants:
        raise SystemExit("mutmut reported no mutants: check [tool.mutmut] only_mutate in pyproject.toml")
    result = score(mutants, allowlist, lambda name: _mutmut(["show", name]))
    print(report(result, args.threshold))
    summary = {m: [result.killed[m], result.counted[m]] for m in sorted(result.counted)}
    (STAGING / "score.json").write_text(json.dumps({"percent": result.percent, "modules": summary}, indent=2))
    if not args.report_only:
        print(f"wall time {time.monotonic() - started:.0f}s with --max-children {args.max_children}")
    if result.stale:
        return 1
    return 0 if result.percent >= args.threshold else 1


if __name__ == "__main__":
    raise SystemExit(main())
