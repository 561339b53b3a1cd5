"""``python -m pulumi_mlops.runtime.training --spec spec.json``: the entry point ``torchrun`` launches."""

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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = train(load_training_spec(args.spec), register=not args.no_register)
    if result.context.is_main:
        print(json.dumps({"version": result.version, "run_id": result.run_id, "metrics": result.metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
