"""Where a workload is told about a bucket: the ``s3://`` and ``gs://`` URIs its pods are given.

A URI can reach a container through its command and arguments (also inside a ``sh -c`` script), its
environment (literal values, ``valueFrom`` and ``envFrom`` of ConfigMaps and Secrets) and the files it
mounts from ConfigMaps and Secrets (JSON and YAML files are walked, so a URI is known by its key path,
``spec.json`` ``output``). Each :class:`Use` records the runtime command that receives the URI (the
``mlops``/``feast``/``mlflow`` subcommand, or ``python -m <module>``), which decides what it does with it.
URIs whose bucket is only known at run time (``s3://$(BUCKET)/...``) are skipped.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pulumi_policy import PolicyResource

from ._base import as_list, get, iter_dicts
from ._graph import PodTemplate, StackGraph, plain

__all__ = ["Location", "Use", "command_key", "locations", "simple_commands", "workload_uses"]

_URI = re.compile(r"(?<![\w+.-])(s3|gs)://([^/\s\"'`;,)\]}]+)([^\s\"'`;,)\]}]*)")
_SHELLS = {"sh", "bash", "ash", "dash", "zsh"}
_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", ";;"}
_PREFIXES = {"exec", "env", "command", "nohup", "time", "then", "else", "do", "if", "elif", "while", "until", "!"}
_BUILTINS = {"[", "[[", "test", "fi", "done", "esac", "exit", "true", "false", ":", "set", "cd", "wait", "sleep"}
"""Shell words that run no program of their own (they are dropped from a script's commands)."""
_FEAST_VALUE_OPTIONS = {"-c", "--chdir", "-f", "--feature-store-yaml", "--log-level"}


@dataclass(frozen=True)
class Location:
    """A bucket and the key (or key prefix) inside it."""

    scheme: str
    """``s3`` or ``gs``."""
    bucket: str
    key: str
    """Without the leading ``/``; empty for the bucket root."""

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}" if self.key else f"{self.scheme}://{self.bucket}"


def locations(text: str) -> list[Location]:
    """Every ``s3://``/``gs://`` location in ``text`` whose bucket is spelled out."""
    found = []
    for match in _URI.finditer(text):
        bucket = match.group(2)
        if "$" in bucket or "{" in bucket:
            continue
        found.append(Location(match.group(1), bucket, match.group(3).lstrip("/")))
    return found


@dataclass(frozen=True)
class Use:
    """One location one container of a workload is given."""

    template: PodTemplate
    container: str
    commands: tuple[str, ...]
    """Runtime commands that receive it (every command of the container for variables and files)."""
    where: str
    """``env:NAME``, ``flag:--name``, ``arg`` or ``file:<file name>:<key path>``."""
    location: Location

    @property
    def workload(self) -> str:
        kind = self.template.owner.resource_type.rsplit(":", 1)[-1]
        return f"{kind} {self.template.namespace}/{self.template.name} (container {self.container})"

    @property
    def source(self) -> str:
        kind, _, rest = self.where.partition(":")
        if kind == "env":
            return f"variable {rest}"
        if kind == "flag":
            return f"argument {rest}"
        if kind == "file":
            name, _, path = rest.partition(":")
            return f"{name} {path}" if path else name
        return "argument"


def _basename(token: str) -> str:
    return token.rsplit("/", 1)[-1]


def _script_commands(script: str) -> list[list[str]]:
    lexer = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: fall back to whitespace
        tokens = script.split()
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in _SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def simple_commands(argv: Sequence[str]) -> list[list[str]]:
    """The programs a container runs: its argv, or each simple command of a ``sh -c`` script."""
    words = [str(w) for w in argv]
    if words and _basename(words[0]) in _SHELLS and "-c" in words[1:]:
        at = words.index("-c", 1)
        raw = _script_commands(words[at + 1]) if at + 1 < len(words) else []
    else:
        raw = [words] if words else []
    commands = []
    for command in raw:
        while command and (command[0] in _PREFIXES or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", command[0])):
            command = command[1:]
        if command and command[0] not in _BUILTINS:
            commands.append(command)
    return commands


def command_key(argv: Sequence[str]) -> str:
    """``mlops batch-predict``, ``feast serve``, ``mlflow server``, ``python -m <module>`` or the program name."""
    program = _basename(argv[0]) if argv else ""
    rest = list(argv[1:])
    if program.startswith("python") or program == "torchrun":
        if "-m" in rest and rest.index("-m") + 1 < len(rest):
            return f"python -m {rest[rest.index('-m') + 1]}"
        return program
    if program in ("mlops", "mlflow", "feast"):
        i = 0
        while i < len(rest):
            token = rest[i]
            if not token.startswith("-"):
                return f"{program} {token}"
            i += 2 if program == "feast" and token in _FEAST_VALUE_OPTIONS else 1
    return program


def _text(value: Any) -> str | None:
    """A wire string, unwrapping a secret value."""
    if isinstance(value, Mapping) and "value" in value:
        value = value["value"]
    return value if isinstance(value, str) else None


def _object_data(res: PolicyResource) -> dict[str, str]:
    data: dict[str, str] = {}
    for key, value in (plain(get(res.props, "data")) or {}).items():
        text = _text(value)
        if text is None:
            continue
        if res.resource_type.endswith(":Secret"):
            with contextlib.suppress(binascii.Error, ValueError):
                text = base64.b64decode(text, validate=True).decode("utf-8", "replace")
        data[key] = text
    for key, value in (plain(get(res.props, "stringData")) or {}).items():
        text = _text(value)
        if text is not None:
            data[key] = text
    return data


Objects = dict[tuple[str, str, str], dict[str, str]]


def _objects(graph: StackGraph) -> Objects:
    """Data of every ConfigMap and Secret by (kind, namespace, name)."""
    found: Objects = {}
    for kind in ("ConfigMap", "Secret"):
        for res in graph.of_type(f"kubernetes:core/v1:{kind}"):
            ns = str(get(res.props, "metadata.namespace", "default"))
            found[(kind, ns, str(get(res.props, "metadata.name", res.name)))] = _object_data(res)
    return found


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}.{i}" if path else str(i))
    elif isinstance(value, str):
        yield path, value


def _file_locations(name: str, text: str) -> Iterator[tuple[str, Location]]:
    doc: Any = None
    try:
        if name.endswith(".json") or text.lstrip().startswith(("{", "[")):
            doc = json.loads(text)
        elif name.endswith((".yaml", ".yml")):
            doc = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        doc = None
    if isinstance(doc, Mapping | list):
        for path, leaf in _walk(doc, ""):
            for location in locations(leaf):
                yield path, location
    else:
        for location in locations(text):
            yield "", location


def _env(container: Mapping[str, Any], ns: str, objects: Objects) -> Iterator[tuple[str, str]]:
    for var in iter_dicts(get(container, "env")):
        value = _text(get(var, "value"))
        if value is None:
            for kind, ref in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                selector = get(var, f"valueFrom.{ref}")
                if selector is not None:
                    data = objects.get((kind, ns, str(get(selector, "name"))), {})
                    value = data.get(str(get(selector, "key")))
        if value is not None:
            yield str(get(var, "name")), value
    for source in iter_dicts(get(container, "envFrom")):
        prefix = str(get(source, "prefix", ""))
        for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            selector = get(source, ref)
            if selector is not None:
                for key, value in objects.get((kind, ns, str(get(selector, "name"))), {}).items():
                    yield prefix + key, value


def _volume_sources(volume: Mapping[str, Any]) -> Iterator[tuple[str, str, list[Mapping[str, Any]]]]:
    if get(volume, "configMap") is not None:
        yield "ConfigMap", str(get(volume, "configMap.name")), list(iter_dicts(get(volume, "configMap.items")))
    if get(volume, "secret") is not None:
        yield "Secret", str(get(volume, "secret.secretName")), list(iter_dicts(get(volume, "secret.items")))
    for source in iter_dicts(get(volume, "projected.sources")):
        for kind, key, name_key in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "name")):
            if get(source, key) is not None:
                yield kind, str(get(source, f"{key}.{name_key}")), list(iter_dicts(get(source, f"{key}.items")))


def _files(
    spec: Mapping[str, Any], container: Mapping[str, Any], ns: str, objects: Objects
) -> Iterator[tuple[str, str]]:
    volumes = {str(get(v, "name")): v for v in iter_dicts(get(spec, "volumes"))}
    for mount in iter_dicts(get(container, "volumeMounts")):
        volume = volumes.get(str(get(mount, "name")))
        if volume is None:
            continue
        sub_path = str(get(mount, "subPath", ""))
        for kind, name, items in _volume_sources(volume):
            data = objects.get((kind, ns, name), {})
            files = [(str(get(i, "path")), data.get(str(get(i, "key")))) for i in items] if items else data.items()
            for path, text in files:
                if text is not None and (not sub_path or path == sub_path):
                    yield path.rsplit("/", 1)[-1], text


def _argv_uses(command: Sequence[str]) -> Iterator[tuple[str, Location]]:
    for i, token in enumerate(command):
        for location in locations(token):
            if token.startswith("-") and "=" in token:
                yield f"flag:{token.split('=', 1)[0]}", location
            elif i > 0 and command[i - 1].startswith("-"):
                yield f"flag:{command[i - 1]}", location
            else:
                yield "arg", location


def workload_uses(graph: StackGraph) -> list[Use]:
    """Every location every workload container is given, with the commands that receive it."""
    objects = _objects(graph)
    uses: list[Use] = []
    for template in graph.pod_templates():
        ns = template.namespace
        for container in template.containers():
            name = str(get(container, "name", ""))
            argv = [str(w) for w in as_list(get(container, "command")) + as_list(get(container, "args"))]
            commands = simple_commands(argv)
            keys = tuple(dict.fromkeys(command_key(c) for c in commands)) or ("",)
            for command in commands:
                for where, location in _argv_uses(command):
                    uses.append(Use(template, name, (command_key(command),), where, location))
            for var, value in _env(container, ns, objects):
                uses.extend(Use(template, name, keys, f"env:{var}", loc) for loc in locations(value))
            for file_name, text in _files(template.spec, container, ns, objects):
                for path, location in _file_locations(file_name, text):
                    uses.append(Use(template, name, keys, f"file:{file_name}:{path}", location))
    return uses
