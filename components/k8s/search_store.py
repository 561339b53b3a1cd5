"""Where the pods of a parallel hyperparameter search share their study: a database on the platform's PostgreSQL.

A training job with ``training.search_workers: N > 1`` runs as an Indexed Job of N pods. Every pod gets

- ``MLOPS_SEARCH_STORAGE``: the SQLAlchemy URL of the tracking database
  (``postgresql+psycopg2://USER:PASS@HOST:PORT/mlflow?sslmode=require``), read from the Secret
  :data:`SEARCH_SECRET` in the training namespace, which is built from the tracking store's outputs (the pod
  spec never holds the password);
- ``MLOPS_SEARCH_STUDY``: the Job's name (downward API label ``batch.kubernetes.io/job-name``), so the pods of
  one run share one study and a retried pod rejoins it;
- ``JOB_COMPLETION_INDEX``, set by Kubernetes.

The runtime keeps the study tables in a schema of their own in that database
(:mod:`pulumi_mlops.runtime.training.search_study`): Optuna and MLflow both keep their migration state in an
``alembic_version`` table, so they must not share a schema. The pods reach the database over the training
namespace's egress to its port (:mod:`.namespaces`), from nodes its security group or private network admits
(checked by the ``database-reachable`` readiness policy).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from .context import DatabaseRef
from .runtime_config import secret_env, secret_value

__all__ = [
    "SEARCH_SECRET",
    "SEARCH_STORAGE_ENV",
    "SEARCH_STUDY_ENV",
    "SEARCH_URL_KEY",
    "search_env",
    "search_storage_secret",
    "search_storage_url",
]

SEARCH_SECRET = "search-db"
"""Secret (training namespace) holding the study storage's URL."""
SEARCH_URL_KEY = "url"
"""Key of the URL in :data:`SEARCH_SECRET`."""
SEARCH_STORAGE_ENV = "MLOPS_SEARCH_STORAGE"
"""Env var of the search workers: SQLAlchemy URL of the study storage."""
SEARCH_STUDY_ENV = "MLOPS_SEARCH_STUDY"
"""Env var of the search workers: the study name (the Job's name)."""
_JOB_NAME_FIELD = "metadata.labels['batch.kubernetes.io/job-name']"


def _url(user: str, password: str, host: str, port: int, database: str) -> str:
    quote = urllib.parse.quote
    return (
        f"postgresql+psycopg2://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{int(port)}/"
        f"{quote(database, safe='')}?sslmode=require"
    )


def search_storage_url(db: DatabaseRef) -> pulumi.Output[str]:
    """``postgresql+psycopg2://USER:PASS@HOST:PORT/DB?sslmode=require`` of the tracking database (user and
    password URL-encoded), a secret Output."""
    url = pulumi.Output.all(db.username, db.password, db.host, db.port).apply(
        lambda v: _url(str(v[0]), str(v[1] or ""), str(v[2]), int(v[3]), db.database)
    )
    return secret_value(url)


def search_storage_secret(
    resource_name: str,
    namespace: str,
    db: DatabaseRef,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Secret:
    """The Secret :data:`SEARCH_SECRET` in ``namespace`` with the study storage's URL under :data:`SEARCH_URL_KEY`."""
    return k8s.core.v1.Secret(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=SEARCH_SECRET, namespace=namespace, labels=dict(labels)),
        type="Opaque",
        string_data={SEARCH_URL_KEY: search_storage_url(db)},
        opts=opts,
    )


def search_env(secret: str = SEARCH_SECRET) -> list[k8s.core.v1.EnvVarArgs]:
    """``MLOPS_SEARCH_STORAGE`` from the Secret and ``MLOPS_SEARCH_STUDY`` from the Job's name."""
    return [
        secret_env(SEARCH_STORAGE_ENV, secret, SEARCH_URL_KEY),
        k8s.core.v1.EnvVarArgs(
            name=SEARCH_STUDY_ENV,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path=_JOB_NAME_FIELD)
            ),
        ),
    ]
