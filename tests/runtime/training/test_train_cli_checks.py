"""``mlops train`` refuses a bad spec or bad data with a plain-text message naming the field and the fix, before
torch or MLflow is imported (checked on ``sys.modules`` of a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import yaml
from sklearn.datasets import load_diabetes, load_wine

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from typer.testing import CliRunner
    from pulumi_mlops.cli import app

    results = []
    for args in json.loads(sys.argv[1]):
        outcome = CliRunner().invoke(app, args)
        results.append({"code": outcome.exit_code, "output": outcome.output})
    heavy = sorted(m for m in ("torch", "mlflow", "optuna", "shap", "onnxruntime") if m in sys.modules)
    print(json.dumps({"results": results, "heavy": heavy}))
    """
)


def test_spec_and_data_errors_fail_before_the_heavy_imports(tmp_path: Path) -> None:
    wine, diabetes = tmp_path / "wine.csv", tmp_path / "diabetes.parquet"
    load_wine(as_frame=True).frame.to_csv(wine, index=False)
    load_diabetes(as_frame=True).frame.to_parquet(diabetes, index=False)
    constant = tmp_path / "constant.csv"
    pd.DataFrame({"x": range(30), "target": [1] * 30}).to_csv(constant, index=False)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"model": {"name": "diabetes"}, "promotion_metric": "macro_f1"}))
    cases = [
        (["--model", "Wine_Quality", "--data", str(wine), "--label", "target"],
         ["--model 'Wine_Quality': model.name: String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
          "e.g. --model wine-quality"]),
        (["--model", "wine", "--data", str(wine), "--label", "colour"],
         ["label column 'colour' is missing", "set TrainingSpec.label (--label)"]),
        (["--model", "wine", "--data", str(wine), "--label", "target", "--task", "binary"],
         ["task: binary needs exactly two label values, but 'target' holds 3 (0, 1, 2)", "(--task) to multiclass"]),
        (["--model", "wine", "--data", str(wine), "--label", "target", "--task", "ordinal"],
         ["task: Input should be 'binary', 'multiclass' or 'regression'", "leave it out to detect the task"]),
        (["--model", "c", "--data", str(constant), "--label", "target"], ["holds one value only (1)"]),
        (["--config", str(spec), "--data", str(diabetes), "--label", "target"],
         ["promotion_metric 'macro_f1' is not a regression metric", "fix TrainingSpec.promotion_metric"]),
        (["--model", "wine", "--data", str(tmp_path / "missing.csv"), "--label", "target"], ["no such file"]),
        (["--model", "wine", "--data", str(wine), "--label", "target", "--param", "max_iter=5"],
         ["params ['max_iter']: estimator auto picks the family and its parameters", "name an estimator"]),
        (["--model", "wine", "--data", str(wine), "--label", "target", "--search-workers", "2"],
         ["search_workers 2: the workers share their study through MLOPS_SEARCH_STORAGE", "journal:<shared path>"]),
    ]  # fmt: skip
    argv = [["train", *args, "--no-register"] for args, _ in cases]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(argv)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for (args, messages), result in zip(cases, report["results"], strict=True):
        assert result["code"] == 2, (args, result["output"])
        for message in messages:
            assert message in result["output"], (args, result["output"])
        assert "Traceback" not in result["output"]
    assert report["heavy"] == []
