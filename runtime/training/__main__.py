"""``python -m pulumi_mlops.runtime.training --spec spec.json``: the entry point ``torchrun`` launches.

Every rank trains; rank 0 registers the challenger and, with ``--promote``, then runs the same
champion/challenger gate as ``mlops train --promote`` (after the process group is closed, so the
other ranks are not held). ``--data`` and ``--since``/``--until`` are what a drift-triggered
retraining adds: the fresh data, or the window of the spec's data, to train on.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .specs import load_training_spec
from .trainer import train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pulumi_mlops.runtime.training")
    parser.add_argument("--spec", required=True, help="TrainingSpec as YAML or JSON")
    parser.add_argument("--no-register", action="store_true", help="fit and evaluate only")
    parser.add_argument("--promote", action="store_true", help="rank 0: then run the champion/challenger gate")
    parser.add_argument("--data", help="train on this data instead of the spec's")
    parser.add_argument("--since", help="train on the rows from this time on (ISO 8601)")
    parser.add_argument("--until", help="... and before this time (default: now)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from pulumi_mlops.runtime.data import parse_window

    spec = load_training_spec(args.spec)
    if args.data:
        spec = spec.model_copy(update={"data": args.data})
    window = parse_window(args.since, args.until)
    result = train(spec, register=not args.no_register, window=window)
    if not result.context.is_main:
        return 0
    summary: dict[str, object] = {"version": result.version, "run_id": result.run_id, "metrics": result.metrics}
    if args.promote and result.version:
        from pulumi_mlops.runtime.registry.promotion import gate_after_training

        decision = gate_after_training(spec.model.name)
        summary["promotion"] = {"action": decision.action, "promoted": decision.promoted, "reason": decision.reason}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
