"""A dependency-free SVG bar chart of feature importances (the ``explanations.svg`` artifact)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["bar_chart_svg"]


def bar_chart_svg(items: Sequence[tuple[str, float]], *, title: str, unit: str = "") -> str:
    """Horizontal bars, one per ``(label, value)`` in the given order; negative values draw as zero."""
    row, label_width, bar_width, top = 22, 190, 360, 34
    height = top + row * len(items) + 12
    largest = max((v for _, v in items), default=0.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + bar_width + 90}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<text x="8" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(items):
        y = top + i * row
        width = max(value, 0.0) / largest * bar_width
        parts.append(f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y + 3}" width="{width:.1f}" height="{row - 6}" fill="#4C78A8"/>')
        parts.append(f'<text x="{label_width + width + 4:.1f}" y="{y + 14}">{value:.4f}{escape(unit)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
