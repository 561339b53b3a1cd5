"""``PlatformImages``: the runtime and MLflow images, built from ``docker/`` and pushed to the stack's own registry.

``pulumi up`` builds each image the spec leaves empty (``PlatformSpec.built_images``) with BuildKit
(pulumi-docker-build), pushes it to the stack's ECR repository or Artifact Registry, and hands the workloads
``<repository>@<digest>``: a pod runs exactly the bytes that were pushed. ``pulumi preview`` builds nothing
(``buildOnPreview`` is off), so a preview needs no Docker daemon.

Registries keep tags immutable, so a tag must never be pushed twice with other content. The provider rebuilds
when its inputs or its hash of the build context change; the tag is the version (the package's for the runtime,
MLflow's for the MLflow image) followed by a hash of the same things (every file the build context sends, after
``.dockerignore``, the Dockerfile, the build arguments, the platforms and the paths), so every rebuild pushes a
new tag and an unchanged tree pushes nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker_build as docker_build

from pulumi_mlops.spec import BUILT_IMAGES, PlatformSpec
from pulumi_mlops.spec.instances import DEFAULT_SYSTEM_TYPE, instance_type

__all__ = [
    "IMAGE_BUILDS",
    "ImageBuild",
    "PlatformImages",
    "PlatformImagesArgs",
    "RegistryLogin",
    "context_digest",
    "context_files",
    "find_build_context",
    "image_platforms",
]


@dataclass(frozen=True)
class ImageBuild:
    """How one of ``BUILT_IMAGES`` is built."""

    dockerfile: str
    """Dockerfile, relative to the build context (the repository root)."""
    build_args: Mapping[str, str] = field(default_factory=dict)
    """``ARG`` values."""
    variant: str = ""
    """Suffix of the version in the tag (``cuda``), empty for none."""


IMAGE_BUILDS: dict[str, ImageBuild] = {
    "runtime": ImageBuild("docker/runtime.Dockerfile", {"VARIANT": "cpu"}),
    "runtime-cuda": ImageBuild("docker/runtime.Dockerfile", {"VARIANT": "cuda"}, variant="cuda"),
    "mlflow": ImageBuild("docker/mlflow.Dockerfile"),
}
"""Dockerfile and build arguments of every image the stack can build (the same as ``make image``)."""


def find_build_context(start: Path | None = None) -> Path:
    """The repository root holding ``docker/`` and ``.dockerignore``: above the working directory, else above
    this module."""
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents, *Path(__file__).resolve().parents]:
        if (folder / IMAGE_BUILDS["runtime"].dockerfile).is_file() and (folder / ".dockerignore").is_file():
            return folder
    raise FileNotFoundError(
        f"no {IMAGE_BUILDS['runtime'].dockerfile} above {here}: run pulumi from the pulumi-mlops checkout, "
        "or set images.runtime and images.mlflow to prebuilt images"
    )


def _glob(pattern: str) -> re.Pattern[str]:
    """A ``.dockerignore`` pattern as a regular expression over slash-separated relative paths."""
    body, out, i = pattern.strip("/"), "", 0
    while i < len(body):
        if body.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif body.startswith("**", i):
            out, i = out + ".*", i + 2
        elif body[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif body[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(body[i]), i + 1
    return re.compile(out + "$")


def _ignore_rules(root: Path) -> list[tuple[bool, re.Pattern[str], str]]:
    path = root / ".dockerignore"
    lines = path.read_text().splitlines() if path.is_file() else []
    rules = []
    for line in (ln.strip() for ln in lines):
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            body = line.lstrip("!").strip()
            rules.append((negated, _glob(body), re.split(r"[*?\[]", body.strip("/"), maxsplit=1)[0]))
    return rules


def _ignored(rel: str, rules: Sequence[tuple[bool, re.Pattern[str], str]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, regex, _ in rules:
        if any(regex.match(p) for p in prefixes):
            ignored = not negated
    return ignored


def context_files(root: Path) -> list[str]:
    """Relative paths of every file the build context sends (``.dockerignore`` applied), sorted."""
    rules = _ignore_rules(root)
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        base = Path(folder).relative_to(root).as_posix()
        rel = "" if base == "." else base + "/"
        # Skip an ignored folder unless a negated pattern may re-include something inside it.
        dirs[:] = sorted(
            d
            for d in dirs
            if not _ignored(rel + d, rules)
            or any(neg and (not lit or lit.startswith(rel + d + "/")) for neg, _, lit in rules)
        )
        found += [rel + f for f in files if not _ignored(rel + f, rules)]
    return sorted(found)


def context_digest(root: Path, *extra: str) -> str:
    """SHA-256 (hex) of every file the build context sends, with its path, and of ``extra``."""
    digest = hashlib.sha256()
    for rel in context_files(root):
        digest.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    for value in extra:
        digest.update(value.encode() + b"\0")
    return digest.hexdigest()


def _versions(root: Path) -> dict[str, str]:
    """The package version (pyproject.toml) and the MLflow pin (constraints.txt), as ``make image`` reads them."""
    package = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    pins = dict(
        line.strip().split("==", 1) for line in (root / "constraints.txt").read_text().splitlines() if "==" in line
    )
    return {"runtime": package, "runtime-cuda": package, "mlflow": pins["mlflow"]}


def image_platforms(spec: PlatformSpec) -> dict[str, list[str]]:
    """``linux/<arch>`` of the nodes each built image runs on: the system pool for the CPU runtime and MLflow,
    the GPU pools for the CUDA runtime (types the instance table lacks count as amd64)."""

    def arch(name: str) -> str:
        row = instance_type(spec.cloud, name)
        return f"linux/{row.arch if row is not None else 'amd64'}"

    system = [arch(spec.cluster.system_instance_type or DEFAULT_SYSTEM_TYPE[spec.cloud])]
    gpu = sorted({arch(p.instance_type) for p in spec.gpu_pools}) or system
    return {"runtime": system, "runtime-cuda": gpu, "mlflow": system}


@dataclass
class RegistryLogin:
    """Credentials BuildKit pushes with."""

    address: pulumi.Input[str]
    """Registry host (``<account>.dkr.ecr.<region>.amazonaws.com``, ``<region>-docker.pkg.dev``)."""
    username: pulumi.Input[str]
    """User (``AWS`` for an ECR token, ``oauth2accesstoken`` for a Google access token)."""
    password: pulumi.Input[str]
    """Short-lived token (a secret); the provider ignores its changes when diffing."""


@dataclass
class PlatformImagesArgs:
    """Inputs of :class:`PlatformImages`."""

    images: Sequence[str]
    """Names (keys of ``IMAGE_BUILDS``) of the images to build: ``PlatformSpec.built_images``."""
    repositories: Mapping[str, pulumi.Input[str]]
    """Repository (registry host and path, no tag) by repository name of ``BUILT_IMAGES`` (``runtime``, ``mlflow``);
    an Output of the repository resource, so the push waits for it."""
    login: RegistryLogin
    """Credentials of the registry holding ``repositories``."""
    platforms: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Target platforms by image name (``image_platforms``); ``linux/amd64`` where absent."""
    context: Path | None = None
    """Repository root (build context); ``None`` finds it (``find_build_context``)."""


class PlatformImages(pulumi.ComponentResource):
    """One ``docker-build:index:Image`` per built image.

    Outputs: ``refs`` (``<repository>@<digest>`` by image name, what workloads run), ``tags`` (the pushed tag by
    image name) and ``images`` (the build resources).
    """

    refs: dict[str, pulumi.Output[str]]
    tags: dict[str, str]
    images: dict[str, docker_build.Image]

    def __init__(self, name: str, args: PlatformImagesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:images:PlatformImages", name, None, opts)
        unknown = sorted(set(args.images) - set(IMAGE_BUILDS))
        if unknown:
            raise ValueError(f"no build for images {unknown}: known are {sorted(IMAGE_BUILDS)}")
        root = args.context or find_build_context()
        # Relative to the program's working directory, so state does not depend on where the checkout lives.
        location = os.path.relpath(root, Path.cwd())
        versions = _versions(root)
        self.refs, self.tags, self.images = {}, {}, {}
        for image in args.images:
            build = IMAGE_BUILDS[image]
            repository = args.repositories.get(BUILT_IMAGES[image])
            if repository is None:
                raise ValueError(f"repositories lacks {BUILT_IMAGES[image]!r}, where the {image} image is pushed")
            platforms = list(args.platforms.get(image, ["linux/amd64"]))
            dockerfile = os.path.normpath(os.path.join(location, build.dockerfile))
            content = context_digest(
                root,
                (root / build.dockerfile).read_text(),
                repr(sorted(build.build_args.items())),
                repr(platforms),
                location,
                dockerfile,
            )
            tag = "-".join(p for p in (versions[image], build.variant, content[:12]) if p)
            built = docker_build.Image(
                f"{name}-{image}",
                context=docker_build.BuildContextArgs(location=location),
                dockerfile=docker_build.DockerfileArgs(location=dockerfile),
                build_args=dict(build.build_args) or None,
                platforms=[docker_build.Platform(p) for p in platforms],
                tags=[pulumi.Output.concat(repository, ":", tag)],
                push=True,
                build_on_preview=False,
                labels={"org.opencontainers.image.version": tag},
                registries=[
                    docker_build.RegistryArgs(
                        address=args.login.address,
                        username=args.login.username,
                        password=pulumi.Output.secret(args.login.password),
                    )
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.images[image] = built
            self.tags[image] = tag
            self.refs[image] = pulumi.Output.concat(repository, "@", built.digest)
        self.register_outputs({"refs": self.refs, "tags": self.tags})
