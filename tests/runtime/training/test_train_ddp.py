"""DistributedDataParallel under torchrun: two CPU processes (gloo) end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import torch

    from pulumi_mlops.runtime.config import ModelRef, TrainingSpec
    from pulumi_mlops.runtime.data import generate_churn
    from pulumi_mlops.runtime.training import distributed_context, fit_and_evaluate

    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    spec = TrainingSpec(
        model=ModelRef(name="churn"), estimator="mlp", data="generated://churn?rows=1200",
        params={"epochs": 2, "batch_size": 128},
    )
    with distributed_context() as ctx:
        result = fit_and_evaluate(spec, generate_churn(1200, 0), context=ctx)
        module = result.pipeline.named_steps["estimator"].module_
        torch.save(module.state_dict(), out / f"rank{ctx.rank}.pt")
        (out / f"rank{ctx.rank}.json").write_text(
            json.dumps({"backend": ctx.backend, "world_size": ctx.world_size, "auc": result.metrics["auc"]})
        )
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_two_ranks_end_with_identical_weights(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        str(script), str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    info = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["backend"] for i in info] == ["gloo", "gloo"] and info[0]["world_size"] == 2
    assert info[0]["auc"] == info[1]["auc"]
    first, second = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
