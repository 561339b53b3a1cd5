"""Container registries and the images the stack builds.

ECR and Artifact Registry keep tags immutable and scan what is pushed. Image builds
(``docker-build:index:Image``) push versioned tags to the stack's own registry only, wait for the
repository they push to, and every workload running a built image waits for its push (otherwise
its pods start before the image exists and sit in ImagePullBackOff until the engine's await fails).
"""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import Policy, PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from ._base import ADVISORY, as_list, config_value, get, is_true, iter_dicts, resource_policy, stack_policy
from ._graph import WORKLOAD_TYPES, StackGraph
from .kubernetes import registry_allowed

__all__ = ["IMAGE_BUILD", "POLICIES", "RESOURCE_TYPES", "image_repository"]

Report = Callable[[str], None]

ECR_REPOSITORY = "aws:ecr/repository:Repository"
ARTIFACT_REPOSITORY = "gcp:artifactregistry/repository:Repository"
IMAGE_BUILD = "docker-build:index:Image"

RESOURCE_TYPES: tuple[str, ...] = (ECR_REPOSITORY, ARTIFACT_REPOSITORY, IMAGE_BUILD, *WORKLOAD_TYPES)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []


@resource_policy(
    "ecr-immutable-tags",
    "ECR repositories make image tags immutable.",
    [ECR_REPOSITORY],
    registry=POLICIES,
)
def _ecr_immutable(args: ResourceValidationArgs, report: Report) -> None:
    mutability = get(args.props, "imageTagMutability", "MUTABLE")
    if mutability not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
        report(f"imageTagMutability is {mutability!r}: set 'IMMUTABLE' so a tag always names one image")


@resource_policy(
    "ecr-scan-on-push",
    "ECR repositories scan every image on push.",
    [ECR_REPOSITORY],
    registry=POLICIES,
)
def _ecr_scan(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "imageScanningConfiguration.scanOnPush")):
        report("imageScanningConfiguration.scanOnPush is not true: scan images for vulnerabilities on push")


@resource_policy(
    "ecr-kms-encryption",
    "ECR repositories encrypt images with a KMS key.",
    [ECR_REPOSITORY],
    level=ADVISORY,
    registry=POLICIES,
)
def _ecr_kms(args: ResourceValidationArgs, report: Report) -> None:
    configs = list(iter_dicts(get(args.props, "encryptionConfigurations")))
    if not any(get(c, "encryptionType") == "KMS" for c in configs):
        report("no encryptionConfigurations with encryptionType 'KMS': encrypt images with the platform key")


@resource_policy(
    "artifact-registry-immutable-tags",
    "Artifact Registry Docker repositories make image tags immutable.",
    [ARTIFACT_REPOSITORY],
    registry=POLICIES,
)
def _ar_immutable(args: ResourceValidationArgs, report: Report) -> None:
    if get(args.props, "format", "DOCKER").upper() != "DOCKER":
        return
    if not is_true(get(args.props, "dockerConfig.immutableTags")):
        report("dockerConfig.immutableTags is not true: make tags immutable")


@resource_policy(
    "artifact-registry-cleanup",
    "Artifact Registry repositories delete old untagged images with cleanup policies.",
    [ARTIFACT_REPOSITORY],
    level=ADVISORY,
    registry=POLICIES,
)
def _ar_cleanup(args: ResourceValidationArgs, report: Report) -> None:
    if not list(iter_dicts(get(args.props, "cleanupPolicies"))):
        report("no cleanupPolicies: delete untagged images after registry.untagged_days")


def image_repository(image: str) -> str:
    """``host/path`` of an image reference, without its tag and digest."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def _tag_problem(tag: str) -> str | None:
    name = tag.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"tag {tag!r} has no version: name one ('<repository>:<version>')"
    if last.rsplit(":", 1)[1] == "latest":
        return f"tag {tag!r} is 'latest': tag the version (the repositories' tags are immutable)"
    return None


@resource_policy(
    "image-build-pushes-to-own-registry",
    "Image builds push (push: true) at least one tag, every tag in the stack's own registry (imageRegistries) "
    "and naming a version other than 'latest'.",
    [IMAGE_BUILD],
    config=("imageRegistries",),
    registry=POLICIES,
)
def _image_build(args: ResourceValidationArgs, report: Report) -> None:
    own = [str(p) for p in as_list(config_value(args, "imageRegistries"))]
    tags = [str(t) for t in as_list(get(args.props, "tags"))]
    if not is_true(get(args.props, "push")):
        report("push is not true: the build stays in the builder's cache and no workload can pull it; set push")
    if not tags:
        report("no tags: tag the build '<repository>:<version>' in the stack's registry so it is pushed there")
    for tag in tags:
        problem = _tag_problem(tag)
        if problem:
            report(problem)
        if not registry_allowed(tag, own):
            report(f"tag {tag!r} is outside the stack's own registry ({', '.join(own)}): push to its repositories")


def _repository_prefixes(graph: StackGraph) -> list[tuple[str, PolicyResource]]:
    """``(reference prefix, repository)`` of every ECR and Artifact Registry Docker repository of the stack."""
    found: list[tuple[str, PolicyResource]] = []
    for repo in graph.of_type(ECR_REPOSITORY):
        name = get(repo.props, "name")
        if name:
            found.append((f"/{name}", repo))
    for repo in graph.of_type(ARTIFACT_REPOSITORY):
        location, project, repo_id = (get(repo.props, k) for k in ("location", "project", "repositoryId"))
        if location and project and repo_id and str(get(repo.props, "format", "DOCKER")).upper() == "DOCKER":
            found.append((f"{location}-docker.pkg.dev/{project}/{repo_id}/", repo))
    return found


def _repository_of(repository: str, prefixes: list[tuple[str, PolicyResource]]) -> PolicyResource | None:
    for prefix, repo in prefixes:
        if prefix.startswith("/") and repository.endswith(prefix) and ".dkr.ecr." in repository:
            return repo
        if not prefix.startswith("/") and repository.startswith(prefix):
            return repo
    return None


@stack_policy(
    "images-wait-for-their-push",
    "Every image build waits for the stack's registry repository its tags push to, and every workload container "
    "running an image of a repository the stack's builds push to waits for a build of that repository.",
    [IMAGE_BUILD, ECR_REPOSITORY, ARTIFACT_REPOSITORY, *WORKLOAD_TYPES],
    registry=POLICIES,
)
def _images_wait(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    prefixes = _repository_prefixes(graph)
    builds: dict[str, list[PolicyResource]] = {}
    for build in graph.of_type(IMAGE_BUILD):
        for tag in as_list(get(build.props, "tags")):
            repository = image_repository(str(tag))
            builds.setdefault(repository, []).append(build)
            repo = _repository_of(repository, prefixes)
            if repo is not None and not graph.depends_on(build, repo):
                report_violation(
                    f"image build {build.name} pushes {tag!r} to repository {repo.name} but does not wait for it: "
                    f"the push fails with 'repository does not exist' on the first `pulumi up`; build the tag from "
                    f"the repository's URL Output ({repo.name}.repository_url)",
                    build.urn,
                )
    for template in graph.pod_templates():
        for c in template.containers():
            image = str(get(c, "image", ""))
            pushers = builds.get(image_repository(image), [])
            if pushers and not any(graph.depends_on(template.owner, b) for b in pushers):
                names = ", ".join(sorted({b.name for b in pushers}))
                report_violation(
                    f"{template.owner.resource_type.rsplit(':', 1)[-1]} {template.namespace}/{template.name} "
                    f"container {get(c, 'name')!r} runs {image!r}, which {names} pushes, but does not wait for the "
                    "push: its pods start before the image exists and sit in ImagePullBackOff; give it the build's "
                    "digest ref Output (PlatformImages.refs) instead of a string",
                    template.owner.urn,
                )
