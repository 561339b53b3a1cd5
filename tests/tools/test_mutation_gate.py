"""``make mutation``: the staged pack is the pack, the gate scores what mutmut reports and the allow-list stays true."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tools import mutation_gate as gate
from tools.mutation_stage import stage, unwrap_resource_policies

ROOT = Path(__file__).resolve().parents[2]

DECORATED = textwrap.dedent(
    """
    CALLS = []

    def resource_policy(name):
        def wrap(check):
            CALLS.append(name)
            return (name, check)
        return wrap

    def tag(value):
        def wrap(f):
            CALLS.append(value)
            return f
        return wrap

    @resource_policy("one")
    def one(args):
        return args + 1

    @tag("outer")
    @resource_policy("two")
    @tag("inner")
    def two(args):
        return args * 2

    @tag("kept")
    def kept(args):
        @resource_policy("nested")
        def inner(a):
            return a
        return inner
    """
)


def _run(source: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(source, "<policy module>", "exec"), namespace)
    return namespace


def test_unwrapping_binds_the_same_policies_in_the_same_order() -> None:
    staged, count = unwrap_resource_policies(DECORATED)
    assert count == 2
    before, after = _run(DECORATED), _run(staged)
    assert after["CALLS"] == before["CALLS"] == ["one", "inner", "two", "outer", "kept"]
    for name in ("one", "two"):
        (policy, check), (staged_policy, staged_check) = before[name], after[name]  # type: ignore[misc]
        assert staged_policy == policy
        assert staged_check(3) == check(3)
    assert '@resource_policy("one")' not in staged
    assert '@resource_policy("nested")' in staged  # only module-level checks are rewritten
    assert '@tag("kept")' in staged


def test_source_without_checks_is_left_as_it_is() -> None:
    source = "from functools import lru_cache\n\n\n@lru_cache\ndef f(x):\n    return x\n"
    assert unwrap_resource_policies(source) == (source, 0)


def test_the_staged_pack_registers_the_same_policies(tmp_path: Path) -> None:
    unwrapped = stage(ROOT, tmp_path)
    decorated = sum(p.read_text().count("\n@resource_policy(") for p in (ROOT / "policies").glob("*.py"))
    assert unwrapped == decorated > 100
    assert "@resource_policy(" not in (tmp_path / "policies" / "storage.py").read_text()
    assert (tmp_path / "tests").resolve() == ROOT / "tests"
    probe = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import {pkg} as pack; "
        "print(json.dumps([[p.name, str(p.enforcement_level), list(p.resource_types)] for p in pack.ALL_POLICIES]))"
    )

    def policies(pkg: str, where: Path) -> list[list[object]]:
        command = [sys.executable, "-c", probe.format(pkg=pkg), str(where)]
        out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=tmp_path).stdout
        return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]

    assert policies("policies", tmp_path) == policies("pulumi_mlops.policies", ROOT)


def _mutant(name: str, status: str) -> str:
    return f"    {name}: {status}\n"


RESULTS = (
    _mutant("policies.storage.x__s3_versioning__mutmut_1", "killed")
    + _mutant("policies.storage.x__s3_versioning__mutmut_2", "survived")
    + _mutant("policies.storage.x__s3_versioning__mutmut_3", "timeout")
    + _mutant("policies.rbac.xǁRulesǁcovers__mutmut_1", "no tests")
    + _mutant("policies.registry.x_image_repository__mutmut_1", "no tests")
)

DIFF = """--- policies/storage.py
+++ policies/storage.py
@@ -1,3 +1,3 @@
 def _s3_versioning(args, report):
-    status = get(args.props, "versioningConfiguration.status", "")
+    status = get(args.props, "versioningConfiguration.status", "XXXX")
     if status != "Enabled":
"""


def test_results_are_parsed_by_module_and_function() -> None:
    mutants = gate.parse_results(RESULTS)
    assert [(m.module, m.qualified, m.status) for m in mutants][2:4] == [
        ("policies.storage", "policies.storage._s3_versioning", "timeout"),
        ("policies.rbac", "policies.rbac.Rules.covers", "no tests"),
    ]
    with pytest.raises(ValueError, match="unexpected line"):
        gate.parse_results("Generating mutants\n")


def test_the_score_counts_kills_and_timeouts_over_what_is_not_allow_listed() -> None:
    allowlist = gate.Allowlist.model_validate(
        {"outside": [{"function": "policies.registry.image_repository", "reason": "stack policy helper"}]}
    )
    shown: list[str] = []
    result = gate.score(gate.parse_results(RESULTS), allowlist, lambda name: shown.append(name) or DIFF)
    assert dict(result.killed) == {"policies.storage": 2}
    assert dict(result.counted) == {"policies.storage": 3, "policies.rbac": 1}
    assert result.percent == 50.0
    assert [m.status for m in result.survivors] == ["survived", "no tests"]
    assert result.outside == ["policies.registry.x_image_repository__mutmut_1"]
    assert shown == [] and result.stale == []


def test_an_equivalent_mutant_is_matched_by_its_changed_line_not_its_number() -> None:
    change = {
        "function": "policies.storage._s3_versioning",
        "original": 'status = get(args.props, "versioningConfiguration.status", "")',
        "mutated": 'status = get(args.props, "versioningConfiguration.status", "XXXX")',
    }
    group = {"reason": "any default other than 'Enabled' reports the same", "mutants": [change]}
    allowlist = gate.Allowlist.model_validate({"equivalent": [group]})
    result = gate.score(gate.parse_results(RESULTS), allowlist, lambda name: DIFF)
    assert result.equivalent == ["policies.storage.x__s3_versioning__mutmut_2"]
    assert dict(result.counted) == {"policies.storage": 2, "policies.rbac": 1, "policies.registry": 1}
    assert result.stale == []


def test_entries_matching_no_mutant_are_stale() -> None:
    allowlist = gate.Allowlist.model_validate(
        {
            "outside": [{"function": "policies.storage.gone", "reason": "was a stack policy helper"}],
            "equivalent": [
                {
                    "reason": "no longer in the code",
                    "mutants": [
                        {"function": "policies.storage._s3_versioning", "original": "a = 1", "mutated": "a = 2"}
                    ],
                }
            ],
        }
    )
    result = gate.score(gate.parse_results(RESULTS), allowlist, lambda name: DIFF)
    assert result.stale == [
        "outside policies.storage.gone: no mutant of it",
        "equivalent policies.storage._s3_versioning: no surviving mutant changes 'a = 1' to 'a = 2'",
    ]


def test_a_bad_allow_list_entry_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "allow.toml"
    path.write_text('[[equivalent]]\nmutants = [{function = "policies.storage.f", original = "a", mutated = "b"}]\n')
    with pytest.raises(SystemExit, match=r"equivalent\.0\.reason: Field required"):
        gate.load_allowlist(path)
    path.write_text(
        '[[equivalent]]\nreason = "cannot differ"\nmutants = [{function = "policies.storage.f", original = "a"}]\n'
    )
    with pytest.raises(SystemExit, match=r"equivalent\.0\.mutants\.0\.mutated: Field required"):
        gate.load_allowlist(path)
    path.write_text("[[outside]\n")
    with pytest.raises(SystemExit, match="not valid TOML"):
        gate.load_allowlist(path)


def test_the_repository_allow_list_loads() -> None:
    allowlist = gate.load_allowlist(gate.ALLOWLIST)
    assert all(e.reason for e in [*allowlist.outside, *allowlist.equivalent])
    changes = [(c.function, c.original, c.mutated) for e in allowlist.equivalent for c in e.mutants]
    assert len(changes) == len(set(changes))


@pytest.mark.parametrize(("threshold", "code"), [(50.0, 0), (50.1, 1)])
def test_the_gate_fails_below_its_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threshold: float, code: int
) -> None:
    (tmp_path / "mutants").mkdir()
    allow = tmp_path / "allow.toml"
    allow.write_text('[[outside]]\nfunction = "policies.registry.image_repository"\nreason = "stack policy helper"\n')
    monkeypatch.setattr(gate, "STAGING", tmp_path)
    monkeypatch.setattr(gate, "ALLOWLIST", allow)
    monkeypatch.setattr(gate, "_mutmut", lambda args, log=None: RESULTS if args[0] == "results" else DIFF)
    assert gate.main(["--report-only", "--threshold", str(threshold)]) == code
    assert json.loads((tmp_path / "score.json").read_text())["percent"] == 50.0


def test_the_import_plugin_refuses_the_original_pack() -> None:
    command = [sys.executable, "-m", "pytest", "-p", "tools.mutation_imports", "--collect-only", "-q", __file__]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode != 0
    assert "not from a mutants/ copy" in done.stdout + done.stderr


def test_the_import_plugin_aliases_the_mutated_copy(tmp_path: Path) -> None:
    pack = tmp_path / "mutants" / "policies"
    pack.mkdir(parents=True)
    (pack / "__init__.py").write_text("from . import checks\n")
    (pack / "checks.py").write_text("from ._base import MARK\n")
    (pack / "_base.py").write_text("MARK = 'mutated copy'\n")
    (pack / "later.py").write_text("from .checks import MARK\n")
    probe = tmp_path / "mutants" / "test_probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            import sys

            import policies.checks
            from pulumi_mlops.policies import checks
            from pulumi_mlops.policies.later import MARK


            def test_one_copy() -> None:
                assert checks is policies.checks and MARK == "mutated copy"
                assert sys.modules["pulumi_mlops.policies.later"] is sys.modules["policies.later"]
                assert policies.checks.__spec__.name == "policies.checks"
            """
        )
    )
    env = {"PYTHONPATH": f"{tmp_path / 'mutants'}:{ROOT}"}
    command = [sys.executable, "-m", "pytest", "-p", "tools.mutation_imports", "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(
        [*command, "--rootdir", str(tmp_path / "mutants"), "-c", "/dev/null", str(probe)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path / "mutants",
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stdout + done.stderr
