# The runtime image: `mlops` (train, serve, drift, retrain, batch-predict), `torchrun` and /bin/sh (the drift
# CronJob's check-then-retrain line). It runs as the unprivileged user of the pods' security context (uid/gid
# 10001, components/k8s/workload.py POD_USER) on a read-only root filesystem: the pods mount an emptyDir at
# /tmp, and HOME and every cache directory point there.
#
#   make image                     CPU variant on the real base
#   make image VARIANT=cuda        PyTorch wheels that bundle CUDA (the node supplies only the driver), and the EFA
#                                  userspace (libfabric, aws-ofi-nccl) for NCCL over EFA
#   make image BASE=local          base image made with debootstrap, built with `podman build --isolation chroot`
#
# Everything is installed with constraints.txt, the same pins as the development environment.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
ARG VARIANT=cpu
# Index the torch wheel comes from; empty picks the variant's: CPU-only wheels or PyPI's CUDA wheels.
ARG TORCH_INDEX=""
# Optional wheel folder (mounted into the build) searched for the torch wheel besides the index.
ARG TORCH_FIND_LINKS=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY constraints.txt ./
RUN --mount=type=secret,id=pip-ca,target=/run/secrets/pip-ca \
    if [ -f /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && case "${VARIANT}" in \
        cpu) index="${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" ;; \
        cuda) index="${TORCH_INDEX:-https://pypi.org/simple}" ;; \
        *) echo "VARIANT must be cpu or cuda, not '${VARIANT}'" >&2; exit 1 ;; \
    esac \
    && pip install --no-cache-dir --constraint constraints.txt --index-url "${index}" \
        ${TORCH_FIND_LINKS:+--find-links "${TORCH_FIND_LINKS}"} torch
COPY pyproject.toml setup.py README.md ./
COPY pulumi_mlops ./pulumi_mlops
COPY runtime ./runtime
RUN --mount=type=secret,id=pip-ca,target=/run/secrets/pip-ca \
    if [ -f /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && pip install --no-cache-dir --constraint constraints.txt ".[runtime,shap]"

FROM ${BASE}
ARG VARIANT=cpu
LABEL org.opencontainers.image.title="pulumi-mlops runtime" \
      org.opencontainers.image.description="mlops train/serve/drift/retrain/batch-predict and torchrun (${VARIANT})" \
      org.opencontainers.image.licenses="Apache-2.0"
# EFA userspace for NCCL across nodes (cuda variant): AWS's EFA installer puts libfabric and the aws-ofi-nccl
# plugin (libnccl-net) under /opt/amazon, without kernel modules (the node has them) or limit files (the pod's
# runtime sets them); ld.so.conf then lets NCCL's dlopen find the plugin. The CPU variant skips it.
ARG EFA_INSTALLER_VERSION=1.51.0
RUN if [ "${VARIANT}" = cuda ]; then \
        python3 -c "import sys, tarfile, urllib.request; urllib.request.urlretrieve(sys.argv[1], '/tmp/efa.tar.gz'); tarfile.open('/tmp/efa.tar.gz').extractall('/tmp/efa', filter='tar')" \
            "https://efa-installer.amazonaws.com/aws-efa-installer-${EFA_INSTALLER_VERSION}.tar.gz" \
        && apt-get update \
        && env -C /tmp/efa/aws-efa-installer ./efa_installer.sh -y --skip-kmod --skip-limit-conf --no-verify \
        && plugin=$(find /opt/amazon -name 'libnccl-net*.so' -print -quit) \
        && test -n "${plugin}" \
        && { dirname "${plugin}"; echo /opt/amazon/efa/lib; } > /etc/ld.so.conf.d/aws-efa-nccl.conf \
        && ldconfig \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && rm -rf /tmp/efa /tmp/efa.tar.gz
RUN groupadd --system --gid 10001 mlops \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /bin/sh mlops
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba \
    MLOPS_HOME=/tmp/mlops
USER 10001:10001
WORKDIR /tmp
# Smoke test as the runtime user, who can write nothing but /tmp: the CLI, the distributed launcher, the
# libraries every workload imports, and a torch build that matches the variant.
RUN mlops --help >/dev/null \
    && torchrun --help >/dev/null \
    && python -c "import mlflow, sklearn, torch; print('mlflow', mlflow.__version__, 'sklearn', sklearn.__version__, 'torch', torch.__version__)" \
    && python -c "import sys, torch; sys.exit(0 if (torch.version.cuda is not None) == (sys.argv[1] == 'cuda') else f'torch {torch.__version__} does not match VARIANT={sys.argv[1]}')" "${VARIANT}" \
    && python -c "import subprocess, sys; sys.exit(0 if sys.argv[1] != 'cuda' or b'libnccl-net' in subprocess.run(['/sbin/ldconfig', '-p'], capture_output=True, check=True).stdout else 'no aws-ofi-nccl plugin in the cuda image')" "${VARIANT}" \
    && /bin/sh -c 'exit 0'
CMD ["mlops", "--help"]
