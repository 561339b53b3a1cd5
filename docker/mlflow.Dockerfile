# The MLflow tracking server image. ghcr.io/mlflow/mlflow:vX holds core MLflow only (no PostgreSQL driver,
# no S3 or GCS client, no basic-auth extra); this one adds what the platform's server uses: the PostgreSQL
# backend and auth store (psycopg2), artifacts proxied to S3 (boto3) or GCS (google-cloud-storage), and
# `--app-name basic-auth` (the `auth` extra). MLflow and its libraries are the versions in constraints.txt,
# and the tag (pulumi_mlops/spec/services.py ImagesSpec.mlflow) is the MLflow version.
#
#   make image-mlflow [BASE=local]
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY constraints.txt ./
RUN --mount=type=secret,id=pip-ca,target=/run/secrets/pip-ca \
    if [ -f /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && pip install --no-cache-dir --constraint constraints.txt \
        "mlflow[auth]" psycopg2-binary boto3 google-cloud-storage

FROM ${BASE}
LABEL org.opencontainers.image.title="pulumi-mlops mlflow" \
      org.opencontainers.image.description="MLflow tracking server with PostgreSQL, S3, GCS and basic auth" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 mlflow \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /bin/sh mlflow
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /tmp
# Smoke test as the server's user: the CLI, the database driver, both cloud storage clients and the
# basic-auth app (which imports Flask-WTF).
RUN mlflow --version \
    && mlflow server --help >/dev/null \
    && python -c "import boto3, google.cloud.storage, psycopg2, mlflow.server.auth; print('ok')"
EXPOSE 5000
CMD ["mlflow", "server", "--help"]
