"""Server-rendered SVG charts (no scripts, no external assets): grouped bars per quarter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

PALETTE = ("#1f5f8b", "#c2571a", "#3a7d44", "#7b4397", "#8a6d00", "#b03a48", "#4a6572", "#2e8b8b")
WIDTH, HEIGHT, MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 720, 260, 40, 40, 10


def grouped_bar_chart(
    categories: Sequence[str], series: Mapping[str, Mapping[str, int]], *, title: str
) -> Markup:
    """Returns an accessible inline SVG: one group of bars per category, one bar per series."""
    names = list(series)
    peak = max([1, *(series[n].get(c, 0) for n in names for c in categories)])
    plot_w, plot_h = WIDTH - MARGIN_LEFT - 10, HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    group_w = plot_w / max(1, len(categories))
    bar_w = max(2.0, (group_w * 0.8) / max(1, len(names)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title"><title id="chart-title">{escape(title)}</title>',
        f'<line x1="{MARGIN_LEFT}" y1="{HEIGHT - MARGIN_BOTTOM}" x2="{WIDTH - 10}" '
        f'y2="{HEIGHT - MARGIN_BOTTOM}" stroke="#333"/>',
        f'<text x="4" y="{MARGIN_TOP + 10}" font-size="11">{peak}</text>',
    ]
    for ci, category in enumerate(categories):
        x0 = MARGIN_LEFT + ci * group_w + group_w * 0.1
        for si, name in enumerate(names):
            value = series[name].get(category, 0)
            h = plot_h * value / peak
            x = x0 + si * bar_w
            y = HEIGHT - MARGIN_BOTTOM - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(name)} {escape(category)}: '
                f"{value}</title></rect>"
            )
        parts.append(
            f'<text x="{x0:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" font-size="12">{escape(category)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above is escaped
