"""Deploy readiness, the first deployment: the engine waits only for what can become ready.

Right after ``pulumi up`` creates a cluster the model registry is empty. A model server
(``mlops serve --model <name>@<alias>``) is ready only once the alias points at a loadable version,
and pulumi-kubernetes waits for every Deployment's readiness (600 s unless ``pulumi.com/timeoutSeconds``
says otherwise) and for every Job's completion, unless the object is annotated
``pulumi.com/skipAwait: "true"``.

- ``serving-waits-for-champion``: a serving Deployment the engine awaits serves ``champion`` or
  ``challenger`` (the aliases a training run with ``--promote`` leaves on a new model's first version)
  of a model that an awaited Job trains and promotes, and waits for that Job. Otherwise the update
  fails at the Deployment's await timeout on every new cluster.
- ``job-await-covers-deadline``: the engine waits for an awaited Job at least as long as the Job may
  run (``activeDeadlineSeconds``); a shorter await fails ``pulumi up`` while the Job goes on.
- ``served-model-has-trainer`` (advisory): some Job or CronJob of the stack trains every model a
  server serves; a model nothing trains gets a version only from outside the stack.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Policy, PolicyResource, ReportViolation, StackValidationArgs

from ._base import ADVISORY, as_list, get, is_true, iter_dicts, stack_policy
from ._graph import CRON_JOB, DEPLOYMENT, JOB, StackGraph

__all__ = [
    "BOOTSTRAPPED_ALIASES",
    "DEFAULT_JOB_AWAIT_SECONDS",
    "POLICIES",
    "RESOURCE_TYPES",
    "Server",
    "Trainer",
    "servers",
    "trainers",
]

RESOURCE_TYPES: tuple[str, ...] = (DEPLOYMENT, JOB, CRON_JOB)
"""Every resource type a policy of this module inspects."""

POLICIES: list[Policy] = []

SKIP_AWAIT = "pulumi.com/skipAwait"
TIMEOUT = "pulumi.com/timeoutSeconds"
MODEL_LABEL = "pulumi-mlops.io/model"
TRAINING_MODULE = "pulumi_mlops.runtime.training"
TRAINING_PROGRAMS = ("mlops", "torchrun", "python", "python3")
BOOTSTRAPPED_ALIASES = ("champion", "challenger")
"""Aliases a new model's first version carries after ``mlops train --promote``: the registration sets
``challenger`` and the promotion gate, finding no champion, sets ``champion``."""
DEFAULT_JOB_AWAIT_SECONDS = 600
"""pulumi-kubernetes' await timeout of a Job without ``pulumi.com/timeoutSeconds`` (DefaultJobTimeoutMins)."""


@dataclass(frozen=True)
class Server:
    """A Deployment running the model server, and what it serves."""

    res: PolicyResource
    model: str
    alias: str

    @property
    def label(self) -> str:
        return _label(self.res)

    @property
    def awaited(self) -> bool:
        return _awaited(self.res)


@dataclass(frozen=True)
class Trainer:
    """A Job or CronJob whose pods train a model, and whether they also run the promotion gate."""

    res: PolicyResource
    model: str
    promotes: bool

    @property
    def label(self) -> str:
        return _label(self.res)


def _label(res: PolicyResource) -> str:
    kind = res.resource_type.rsplit(":", 1)[-1]
    meta = get(res.props, "metadata", {})
    return f"{kind} {get(meta, 'namespace', 'default')}/{get(meta, 'name', res.name)}"


def _annotation(res: PolicyResource, key: str) -> Any:
    annotations = get(res.props, "metadata.annotations", {})
    return annotations.get(key) if isinstance(annotations, Mapping) else None


def _awaited(res: PolicyResource) -> bool:
    return not is_true(_annotation(res, SKIP_AWAIT))


def _argv(container: Mapping[str, Any], programs: Sequence[str]) -> list[str] | None:
    """Command and args of a container whose command is one of ``programs``; ``None`` otherwise.

    The command is read first: other containers' arguments (the MLflow server's database URI, a drift job's
    shell line) may be unknown during a preview, and reading an unknown value makes the policy advisory.
    """
    command = [str(c) for c in as_list(get(container, "command", []))]
    if not command or command[0].rsplit("/", 1)[-1] not in programs:
        return None
    return [*command, *(str(a) for a in as_list(get(container, "args", [])))]


def _option(argv: Sequence[str], flag: str) -> str | None:
    for i, token in enumerate(argv[:-1]):
        if token == flag:
            return argv[i + 1]
    return None


def _template(res: PolicyResource) -> Mapping[str, Any]:
    path = "spec.jobTemplate.spec.template" if res.resource_type == CRON_JOB else "spec.template"
    template = get(res.props, path, {})
    return template if isinstance(template, Mapping) else {}


def _containers(template: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from iter_dicts(get(template, "spec.containers"))


def servers(graph: StackGraph) -> list[Server]:
    """Every Deployment whose container runs ``mlops serve --model <name>[@<alias>]``."""
    found = []
    for res in graph.of_type(DEPLOYMENT):
        for container in _containers(_template(res)):
            argv = _argv(container, ("mlops",))
            if argv is None or len(argv) < 2 or argv[1] != "serve":
                continue
            ref = _option(argv, "--model") or _option(argv, "-m")
            if ref:
                name, _, alias = ref.partition("@")
                found.append(Server(res, name, alias or "champion"))
    return found


def _trains(argv: Sequence[str]) -> bool:
    mlops = argv[0].rsplit("/", 1)[-1] == "mlops" and len(argv) >= 2 and argv[1] == "train"
    return mlops or TRAINING_MODULE in argv


def trainers(graph: StackGraph, types: Sequence[str] = (JOB, CRON_JOB)) -> list[Trainer]:
    """Every Job and CronJob (of ``types``) whose pods train a model: ``mlops train``, or the training module
    under ``torchrun`` or ``python -m``; ``--promote`` says the run ends in the promotion gate.

    The model is the pod template's ``pulumi-mlops.io/model`` label, else the ``--model`` option.
    """
    found = []
    for res in graph.of_type(*types):
        template = _template(res)
        labels = get(template, "metadata.labels", {})
        for container in _containers(template):
            argv = _argv(container, TRAINING_PROGRAMS)
            if argv is None or not _trains(argv):
                continue
            model = (labels.get(MODEL_LABEL) if isinstance(labels, Mapping) else None) or _option(argv, "--model")
            if model:
                found.append(Trainer(res, str(model).partition("@")[0], "--promote" in argv))
    return found


@stack_policy(
    "serving-waits-for-champion",
    "Every serving Deployment the engine awaits (no pulumi.com/skipAwait) serves the champion or challenger alias "
    "of a model that an awaited Job of the stack trains with --promote, and depends on that Job.",
    (DEPLOYMENT, JOB),
    registry=POLICIES,
)
def _serving_waits(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    bootstraps: dict[str, list[Trainer]] = {}
    for trainer in trainers(graph, (JOB,)):  # what the engine waits for; CronJobs run later
        if trainer.promotes and _awaited(trainer.res):
            bootstraps.setdefault(trainer.model, []).append(trainer)
    for server in servers(graph):
        if not server.awaited:
            continue
        head = f"{server.label} serves {server.model}@{server.alias} and the engine waits for it to become ready"
        skip = f'or annotate it {SKIP_AWAIT}: "true" so it is created without waiting'
        jobs = bootstraps.get(server.model, [])
        if server.alias not in BOOTSTRAPPED_ALIASES:
            report_violation(
                f"{head}, but alias {server.alias} is set by nothing the stack runs (a first training run with "
                f"--promote sets {' and '.join(BOOTSTRAPPED_ALIASES)}): on a new cluster the server stays not-ready "
                f"and `pulumi up` fails at the Deployment's await timeout. Fix: serve "
                f"{' or '.join(BOOTSTRAPPED_ALIASES)}, {skip}",
                server.res.urn,
            )
        elif not jobs:
            report_violation(
                f"{head}, but no Job of the stack trains and promotes {server.model}: on a new cluster the registry "
                f"holds no version, the server stays not-ready and `pulumi up` fails at the Deployment's await "
                f"timeout. Fix: add a training job for {server.model} to the spec (its bootstrap Job runs on the "
                f"first `pulumi up` and the endpoint waits for it), {skip} when versions are registered from outside",
                server.res.urn,
            )
        elif not any(graph.depends_on(server.res, job.res) for job in jobs):
            names = ", ".join(job.label for job in jobs)
            report_violation(
                f"{head}, but does not wait for {names}, which trains and promotes its first version: the engine "
                f"creates both at once and the server's await runs out while the model is still training. Fix: "
                f"make the Deployment depend on the Job (ServingEndpointArgs.bootstrap)",
                server.res.urn,
            )


@stack_policy(
    "job-await-covers-deadline",
    "Every Job the engine awaits has an await timeout (pulumi.com/timeoutSeconds, else 600 s) no shorter than its "
    "activeDeadlineSeconds.",
    (JOB,),
    registry=POLICIES,
)
def _job_await(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for res in StackGraph(args.resources).of_type(JOB):
        deadline = get(res.props, "spec.activeDeadlineSeconds")
        if not _awaited(res) or deadline is None:
            continue
        given = _annotation(res, TIMEOUT)
        try:
            timeout = int(str(given)) if given is not None else DEFAULT_JOB_AWAIT_SECONDS
        except ValueError:
            report_violation(
                f"Job {_label(res)}: {TIMEOUT} {given!r} is not a number of seconds, so the engine waits the "
                f"default {DEFAULT_JOB_AWAIT_SECONDS} s. Fix: give it whole seconds, at least activeDeadlineSeconds "
                f"({int(deadline)})",
                res.urn,
            )
            continue
        if timeout < int(deadline):
            source = f"{TIMEOUT} is {timeout}" if given is not None else f"{TIMEOUT} is unset, so {timeout} s"
            report_violation(
                f"{_label(res)} may run for {int(deadline)} s (activeDeadlineSeconds) but the engine waits for it "
                f"only {timeout} s ({source}): a run that takes longer fails `pulumi up` while the Job goes on. "
                f"Fix: set {TIMEOUT} to at least {int(deadline)}, or lower activeDeadlineSeconds",
                res.urn,
            )


@stack_policy(
    "served-model-has-trainer",
    "Every model a serving Deployment serves is trained by a Job or CronJob of the stack.",
    (DEPLOYMENT, JOB, CRON_JOB),
    level=ADVISORY,
    registry=POLICIES,
)
def _served_model_trained(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    trained = {t.model for t in trainers(graph)}
    for server in servers(graph):
        if server.model in trained:
            continue
        report_violation(
            f"{server.label} serves {server.model}@{server.alias}, which nothing in the stack trains: it answers "
            f"not-ready until a version of {server.model} is registered and given alias {server.alias} from outside "
            f"(e.g. `mlops train --model {server.model} --promote` against the stack's tracking server). Fix: add a "
            f"training job for {server.model} to the spec, or register the model before relying on the endpoint",
            server.res.urn,
        )
