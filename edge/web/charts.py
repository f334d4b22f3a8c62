"""Charts as inline SVG, drawn on the server: no script library to ship, works on any phone."""

from __future__ import annotations

from collections.abc import Sequence

from edge.web.ui import esc

COLOURS = {"predator": "#b3261e", "chicken": "#2e7d32", "background": "#8d8a7c",
           "p50": "#3e5a2a", "p90": "#c9a227"}
Segment = tuple[str, float]  # (series name, value)


def horizontal_bars(rows: Sequence[tuple[str, Sequence[Segment]]], unit: str,
                    title: str) -> str:
    """One group of bars per row (e.g. p50 and p90 per stage), scaled to the largest value."""
    top = max((v for _, segs in rows for _, v in segs), default=0.0) or 1.0
    bar_h, gap, left, width = 12, 10, 90, 560
    series = list(dict.fromkeys(name for _, segs in rows for name, _ in segs))
    height = 30 + len(rows) * (len(series) * bar_h + gap)
    out = [_open(left + width + 80, height, title), _legend(series, left)]
    y = 30
    for label, segs in rows:
        out.append(f'<text x="{left - 6}" y="{y + bar_h}" text-anchor="end">{esc(label)}</text>')
        for name, value in segs:
            w = max(1.0, value / top * width)
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                       f'fill="{COLOURS.get(name, "#555")}"><title>{esc(label)} {esc(name)} '
                       f'{value:.1f} {esc(unit)}</title></rect>'
                       f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 3}">{value:.1f} '
                       f'{esc(unit)}</text>')
            y += bar_h
        y += gap
    return "".join(out) + "</svg>"


def stacked_columns(columns: Sequence[tuple[str, Sequence[Segment]]], title: str) -> str:
    """One column per label (e.g. a day) stacked by series (e.g. verdicts)."""
    top = max((sum(v for _, v in segs) for _, segs in columns), default=0.0) or 1.0
    left, base, plot_h = 40, 190, 150
    step = max(18.0, min(48.0, 600 / max(1, len(columns))))
    series = list(dict.fromkeys(name for _, segs in columns for name, _ in segs))
    out = [_open(int(left + step * len(columns) + 20), 230, title), _legend(series, left),
           f'<text x="{left - 6}" y="{base - plot_h + 4}" text-anchor="end">{top:g}</text>',
           f'<line x1="{left}" y1="{base}" x2="{left + step * len(columns):.0f}" y2="{base}" '
           'stroke="#999"/>']
    for i, (label, segs) in enumerate(columns):
        x, y = left + i * step + 3, float(base)
        for name, value in segs:
            h = value / top * plot_h
            y -= h
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step - 6:.1f}" height="{h:.1f}" '
                       f'fill="{COLOURS.get(name, "#555")}"><title>{esc(label)}: {value:g} '
                       f'{esc(name)}</title></rect>')
        out.append(f'<text x="{x + (step - 6) / 2:.1f}" y="{base + 14}" text-anchor="middle">'
                   f'{esc(label[-5:])}</text>')
    return "".join(out) + "</svg>"


def _open(width: int, height: int, title: str) -> str:
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
            f'xmlns="http://www.w3.org/2000/svg" aria-label="{esc(title)}"><title>{esc(title)}'
            "</title>")


def _legend(series: Sequence[str], left: int) -> str:
    return "".join(
        f'<rect x="{left + i * 110}" y="6" width="10" height="10" '
        f'fill="{COLOURS.get(name, "#555")}"/><text x="{left + i * 110 + 14}" y="15">'
        f"{esc(name)}</text>" for i, name in enumerate(series))
