"""Repository tooling run by make targets (``make mutation``: ``python -m tools.mutation_gate``); not shipped."""
