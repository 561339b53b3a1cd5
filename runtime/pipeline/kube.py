"""Start a Job from a CronJob's template through the Kubernetes API, as ``kubectl create job --from`` does.

The drift job runs this in-cluster with its ServiceAccount token; it needs ``get`` on the CronJob and
``create`` on Jobs in its namespace, nothing more. Plain HTTP calls, no client library.

A retraining Job is the training CronJob's pod with arguments added to its containers (the fresh data,
or the window of the training data, to train on: ``--since``/``--until`` or ``--data``), so it trains on
what the drift job found rather than repeating the scheduled run, which could never beat the champion.

The guard's history records each Job by name; before the guard decides, Jobs it recorded in the last day
are looked up (``get`` on Jobs), and those that failed are forgotten, so a failed retraining does not use
up the cooldown or the daily cap.
"""

from __future__ import annotations

import copy
import json
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "KubeApi",
    "KubeApiError",
    "forget_failed_jobs",
    "job_failed",
    "job_from_cron_job",
    "retrain_job_name",
    "submit_from_cron_job",
    "trigger_retraining",
]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TRIGGER_LABEL = "pulumi-mlops.io/trigger"


class KubeApiError(RuntimeError):
    """The API server refused or could not be reached; the message names the call and the status."""


@dataclass(frozen=True)
class KubeApi:
    """Where the API server is and how to authenticate."""

    base_url: str
    token: str
    namespace: str
    ssl_context: ssl.SSLContext | None = None
    timeout_s: float = 10.0

    @classmethod
    def in_cluster(cls, sa_dir: Path | None = None) -> KubeApi:
        sa_dir = sa_dir or SERVICE_ACCOUNT_DIR
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host or not (sa_dir / "token").is_file():
            raise KubeApiError("not running in a Kubernetes pod (no KUBERNETES_SERVICE_HOST or service-account token)")
        context = ssl.create_default_context(cafile=str(sa_dir / "ca.crt"))
        return cls(
            base_url=f"https://{host}:{port}",
            token=(sa_dir / "token").read_text().strip(),
            namespace=(sa_dir / "namespace").read_text().strip(),
            ssl_context=context,
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=self.ssl_context) as response:
                result: dict[str, Any] = json.loads(response.read() or b"{}")
                return result
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise KubeApiError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise KubeApiError(f"{method} {path}: {exc}") from None


def job_from_cron_job(
    cron_job: dict[str, Any], job_name: str, reason: str, extra_args: Sequence[str] = ()
) -> dict[str, Any]:
    """A Job manifest from the CronJob's ``jobTemplate``, owned by the CronJob, marked as a manual start.

    ``extra_args`` are appended to the arguments of every container of the pod (not the init containers).
    """
    meta = cron_job["metadata"]
    template = copy.deepcopy(cron_job["spec"]["jobTemplate"])
    if extra_args:
        for container in template["spec"]["template"]["spec"]["containers"]:
            container["args"] = [*container.get("args", []), *extra_args]
    labels = {**(template.get("metadata", {}).get("labels") or {}), TRIGGER_LABEL: "drift"}
    annotations = {
        **(template.get("metadata", {}).get("annotations") or {}),
        "cronjob.kubernetes.io/instantiate": "manual",
        "pulumi-mlops.io/reason": reason[:250],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": template["spec"],
    }


def retrain_job_name(cron_job: str, now: datetime) -> str:
    """``<cron job>-retrain-<UTC time>``, the CronJob name cut so the whole stays within 63 characters."""
    at = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    suffix = f"-retrain-{at}"
    return cron_job[: 63 - len(suffix)].rstrip("-") + suffix


def submit_from_cron_job(
    api: KubeApi, cron_job: str, reason: str, now: datetime | None = None, extra_args: Sequence[str] = ()
) -> str:
    """Create a Job from ``cron_job`` (in the API's namespace), its containers given ``extra_args``; returns
    the Job's name."""
    base = f"/apis/batch/v1/namespaces/{api.namespace}"
    source = api.call("GET", f"{base}/cronjobs/{cron_job}")
    name = retrain_job_name(cron_job, now or datetime.now(UTC))
    created = api.call("POST", f"{base}/jobs", job_from_cron_job(source, name, reason, extra_args))
    return str(created.get("metadata", {}).get("name", name))


def job_failed(job: dict[str, Any]) -> bool:
    """Whether a Job object has the condition ``Failed`` (its retries are used up or its deadline passed)."""
    conditions = job.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Failed" and c.get("status") == "True" for c in conditions)


def forget_failed_jobs(model: str, history: Any, api: KubeApi, audit: Any, now: datetime) -> list[str]:
    """Drop from ``history`` the retraining Jobs of the last day that failed; returns their names.

    A Job that cannot be read (deleted, or the API refuses) is kept: the guard stays on the safe side.
    """
    base = f"/apis/batch/v1/namespaces/{api.namespace}/jobs"
    failed = []
    for at, job in history.entries(model):
        if job is None or at <= now - timedelta(days=1):
            continue
        try:
            found = api.call("GET", f"{base}/{job}")
        except KubeApiError:
            continue
        if job_failed(found):
            history.forget(model, at)
            failed.append(job)
            audit({"action": "retrain-failed", "why": f"Job {job} failed: it no longer counts against the guard"})
    return failed


def trigger_retraining(
    model: str,
    cron_job: str,
    guard: Any,
    audit: Any,
    api: KubeApi,
    now: datetime | None = None,
    training_args: Sequence[str] = (),
    *,
    force: bool = False,
) -> str | None:
    """Cluster mode of the loop (drift already found): start the training Job unless the guard says wait.

    ``training_args`` (what to train on) are added to the Job's containers. Failed retraining Jobs are
    forgotten first (:func:`forget_failed_jobs`). Returns the Job's name, or ``None`` when the guard blocked;
    both outcomes are audited. ``force`` starts the Job whatever the guard says, and the audit says so.
    """
    at = now or datetime.now(UTC)
    forget_failed_jobs(model, guard.history, api, audit, at)
    blocked = guard.blocked(model, at)
    if blocked and not force:
        audit({"action": "skipped-guard", "why": blocked})
        return None
    reason = "dataset drift over the threshold"
    if force:
        reason = "forced (--force)" + (f" despite the guard ({blocked})" if blocked else "")
    job = submit_from_cron_job(api, cron_job, reason, at, training_args)
    guard.history.record(model, at, job)
    trains_on = f" training with {' '.join(training_args)}" if training_args else ""
    why = "forced" if force else "dataset drift"
    audit(
        {
            "action": "retrain-submitted",
            "why": f"{why}: started Job {job} from CronJob {cron_job}{trains_on}"
            + (f", overriding the guard ({blocked})" if blocked else ""),
            "forced": force,
        }
    )
    return job
