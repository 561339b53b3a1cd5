"""Rich rendering of a previewed graph: resource tree, counts by type, stack outputs."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.tree import Tree

from .graph import ResourceGraph, _jsonable

__all__ = ["counts_table", "outputs_table", "render_graph", "resource_tree"]


def resource_tree(graph: ResourceGraph) -> Tree:
    root = Tree(f"[bold]{graph.project}-{graph.stack}[/] (pulumi:pulumi:Stack)")
    nodes: dict[str | None, Tree] = {None: root}
    pending = sorted(graph.resources.values(), key=lambda r: r.urn)
    # Parents are registered before children, but sort order need not follow; resolve iteratively.
    while pending:
        progressed = []
        for res in pending:
            parent = nodes.get(res.parent) if res.parent in nodes else None
            if parent is None and res.parent is not None:
                continue
            target = parent or root
            style = "cyan" if not res.custom else "white"
            nodes[res.urn] = target.add(f"[{style}]{res.name}[/] [dim]{res.type}[/]")
            progressed.append(res)
        if not progressed:  # orphans (parent outside the graph): attach to the root
            for res in pending:
                nodes[res.urn] = root.add(f"{res.name} [dim]{res.type}[/]")
            break
        pending = [r for r in pending if r not in progressed]
    return root


def counts_table(graph: ResourceGraph) -> Table:
    table = Table(title=f"{len(graph.resources)} resources by type", show_lines=False)
    table.add_column("type")
    table.add_column("count", justify="right")
    for type_, count in graph.counts().items():
        table.add_row(type_, str(count))
    return table


def _short(value: Any) -> str:
    text = str(_jsonable(value))
    return text if len(text) <= 100 else text[:97] + "..."


def outputs_table(graph: ResourceGraph) -> Table:
    table = Table(title="stack outputs")
    table.add_column("output")
    table.add_column("value (preview placeholder values)")
    for key in sorted(graph.outputs):
        table.add_row(key, _short(graph.outputs[key]))
    return table


def render_graph(graph: ResourceGraph, tree: bool = True) -> RenderableType:
    parts: list[RenderableType] = [resource_tree(graph)] if tree else []
    parts += [counts_table(graph), outputs_table(graph)]
    return Group(*parts)
