# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS_HASH := $(shell cat pyproject.toml setup.py constraints.txt | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(DEPS_HASH)
PYTEST_ARGS ?=

.PHONY: venv demo test lint format bench mutation schema image image-mlflow clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: venv
	$(BIN)/mlops demo

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@rm -rf .typecheck && mkdir -p .typecheck/pulumi_mlops
	@for f in pulumi_mlops/*; do ln -s ../../$$f .typecheck/pulumi_mlops/; done
	@for d in components runtime policies; do ln -s ../../$$d .typecheck/pulumi_mlops/$$d; done
	cd .typecheck && ../$(BIN)/mypy --config-file ../pyproject.toml -p pulumi_mlops
	cd .typecheck && ../$(BIN)/mypy --config-file ../pyproject.toml ../stacks/__main__.py

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv
	$(BIN)/python -m bench

# Mutation testing of the pack's resource checks (README, "Development"); fails below 90% of mutants killed.
mutation: venv
	$(BIN)/python -m tools.mutation_gate

schema: venv
	$(BIN)/mlops schema > stacks/platform.schema.json

# Images (README, "Images"): `make image [VARIANT=cuda] [BASE=local]`, `make image-mlflow [BASE=local]`.
# BASE=local builds from a debootstrap base with `podman build --isolation chroot` (no registry needed).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
MLFLOW_VERSION := $(shell sed -n 's/^mlflow==//p' constraints.txt)
VARIANT ?= cpu
IMAGE_REPO ?= ghcr.io/pulumi-mlops
RUNTIME_TAG := $(IMAGE_REPO)/runtime:$(VERSION)$(if $(filter cuda,$(VARIANT)),-cuda)

image:
	VARIANT=$(VARIANT) docker/build.sh runtime $(RUNTIME_TAG)

image-mlflow:
	docker/build.sh mlflow $(IMAGE_REPO)/mlflow:$(MLFLOW_VERSION)

clean:
	rm -rf $(VENV) .mlops .mutation mutants .pytest_cache .mypy_cache .ruff_cache build *.egg-info
