"""Plotly figures built from the trend tables in `dashboards.trends`.

Conventions the dashboard page relies on (its filters re-filter the figures in the browser):

* a trace that belongs to one concept type carries ``meta = {"type": <type>}`` (one trace per
  type, coloured by `type_colors`), so the type filter can drop whole traces;
* a figure whose x values are period labels carries ``layout.meta = {"time": True}``, so the
  period filter can drop points outside the chosen range;
* the co-occurrence edge trace carries ``meta = {"edges": [[type_a, type_b], ...]}``, one pair per
  3-point segment of its x/y arrays, so edges of hidden types can be dropped.

Every user-supplied string shown by plotly (concept names, titles) is HTML-escaped first, since
plotly interprets a subset of HTML in text; plotly turns the entities back into characters.
"""

from __future__ import annotations

import hashlib
import html
import math
from typing import Iterable, Sequence

import igraph as ig
import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from dashboards.growth import GrowthTable
from dashboards.trends import (
    ConceptRow,
    ConceptStats,
    CoOccurrence,
    FirstAppearance,
    PeriodCount,
    RelationCount,
    TimeAxis,
    TypePeriodCount,
)

PREFERRED_ORDER = ("model", "task", "dataset", "field", "modality", "method", "object", "property", "instrument")
PALETTE = qualitative.Plotly + qualitative.D3 + qualitative.Set3
LAYOUT = dict(
    template="plotly_white", margin=dict(l=60, r=20, t=64, b=50), height=420, legend=dict(title=dict(text="type"))
)


def esc(text: object) -> str:
    """Text safe inside plotly labels and HTML: &, < and > become entities."""
    return html.escape(str(text), quote=False)


def type_colors(types: Iterable[str]) -> dict[str, str]:
    """A colour per type, the same in every figure: science-schema types get fixed colours (in
    schema order), other types follow alphabetically with a colour chosen by a hash of the name."""
    found = set(types)
    ordered = [t for t in PREFERRED_ORDER if t in found] + sorted(found - set(PREFERRED_ORDER))
    extra = PALETTE[len(PREFERRED_ORDER) :]
    return {
        t: PALETTE[PREFERRED_ORDER.index(t)]
        if t in PREFERRED_ORDER
        else extra[int(hashlib.sha1(t.encode("utf-8")).hexdigest(), 16) % len(extra)]
        for t in ordered
    }


def _empty(fig: go.Figure, message: str) -> go.Figure:
    """The figure with a centred note instead of data, and no axes."""
    fig.add_annotation(
        text="<br>".join(esc(part) for part in message.split("<br>")),
        showarrow=False,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        font=dict(size=15),
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _base(title: str, time_axis: bool = False, **layout: object) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        **{**LAYOUT, **layout},
        title=dict(text=esc(title), x=0.01, xanchor="left", y=0.98, yanchor="top", font=dict(size=15)),
    )
    if time_axis:
        fig.update_layout(meta={"time": True})
        fig.update_xaxes(type="category", categoryorder="category ascending", title="period")
    return fig


def types_over_time_figure(rows: Sequence[TypePeriodCount], axis: TimeAxis, value: str = "mentions") -> go.Figure:
    """Stacked area of mentions (or documents) per concept type over the periods, one trace per type."""
    fig = _base(f"Concept {value} per {axis.granularity}, by type", time_axis=True)
    if not rows:
        return _empty(fig, "No dated mentions yet")
    colors = type_colors(r.type for r in rows)
    for typ in colors:
        own = [r for r in rows if r.type == typ]
        fig.add_trace(
            go.Scatter(
                x=[r.period for r in own],
                y=[getattr(r, value) for r in own],
                name=esc(typ),
                mode="lines",
                stackgroup="types",
                line=dict(width=0.5, color=colors[typ]),
                meta={"type": typ},
                hovertemplate=f"%{{x}}<br>{esc(typ)}: %{{y}} {value}<extra></extra>",
            )
        )
    fig.update_yaxes(title=value)
    return fig


def documents_per_period_figure(rows: Sequence[PeriodCount], axis: TimeAxis) -> go.Figure:
    """Bar chart of dated documents per period; the undated count is noted in the title."""
    note = f" ({axis.undated_documents} undated not shown)" if axis.undated_documents else ""
    fig = _base(f"Documents per {axis.granularity}{note}", time_axis=True)
    if not rows:
        return _empty(fig, "No dated documents yet")
    fig.add_trace(
        go.Bar(
            x=[r.period for r in rows],
            y=[r.documents for r in rows],
            name="documents",
            marker_color="#4c78a8",
            hovertemplate="%{x}: %{y} documents<extra></extra>",
        )
    )
    fig.update_layout(showlegend=False)
    fig.update_yaxes(title="documents")
    return fig


def growth_title(growth: GrowthTable, direction: str) -> str:
    """'Top rising concepts' over a line naming both windows with their document counts."""
    if growth.recent and growth.earlier:
        windows = f"recent {esc(growth.recent.label)}<br>earlier {esc(growth.earlier.label)}"
    else:
        windows = "needs dated documents in two windows"
    return f"Top {direction} concepts<br><sup>{windows}</sup>"


def growth_figure(growth: GrowthTable, direction: str = "rising") -> go.Figure:
    """Horizontal bars of the rising (or falling) concepts' growth scores, one trace per type,
    the strongest change at the top; the windows and their document counts in the title, and the
    reason instead of bars when a window is too small to rank on."""
    items = growth.rising if direction == "rising" else growth.falling
    fig = _base("", height=max(320, 150 + 22 * len(items)), bargap=0.35, margin=dict(l=60, r=20, t=100, b=50))
    fig.update_layout(
        title_text=growth_title(growth, direction),
        title_y=0.99,
        title_yanchor="top",
        title_yref="container",
        title_pad=dict(t=8),
        meta={"growth": direction},
    )
    if not growth.ranked:
        return _empty(fig, _wrap(growth.reason))
    if not items:
        return _empty(fig, f"No {direction} concepts with at least {growth.min_documents} documents")
    colors = type_colors(g.type for g in items)
    for typ in colors:
        own = [g for g in items if g.type == typ]
        fig.add_trace(
            go.Bar(
                x=[round(g.score, 4) for g in own],
                y=[esc(g.name) for g in own],
                orientation="h",
                name=esc(typ),
                marker_color=colors[typ],
                meta={"type": typ},
                customdata=[
                    [g.recent_documents, growth.recent_total, g.earlier_documents, growth.earlier_total] for g in own
                ],
                hovertemplate="%{y}<br>score %{x:.2f}<br>recent %{customdata[0]}/%{customdata[1]} docs"
                "<br>earlier %{customdata[2]}/%{customdata[3]} docs<extra></extra>",
            )
        )
    order = "total ascending" if direction == "rising" else "total descending"
    fig.update_yaxes(type="category", categoryorder=order, automargin=True)
    fig.update_xaxes(title="growth score (log2 share ratio)")
    return fig


def _wrap(text: str, width: int = 70) -> str:
    """Plotly annotations do not wrap: break the text into lines of about `width` characters."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "<br>".join(lines + [line])


def first_appearance_figure(rows: Sequence[FirstAppearance], axis: TimeAxis, per_type: int = 40) -> go.Figure:
    """Scatter of concepts at their first period (x) against their dated documents (log y), one
    trace per type; keeps the `per_type` best-supported concepts of each type."""
    fig = _base(f"First appearances ({', '.join(sorted({r.type for r in rows})) or 'none'})", time_axis=True)
    if not rows:
        return _empty(fig, "No dated concepts yet")
    colors = type_colors(r.type for r in rows)
    rng = np.random.default_rng(0)
    for typ in colors:
        own = sorted((r for r in rows if r.type == typ), key=lambda r: (-r.documents, r.name))[:per_type]
        own.sort(key=lambda r: (r.period, -r.documents, r.name))
        jitter = rng.uniform(0.92, 1.08, len(own))  # separates concepts with equal support
        fig.add_trace(
            go.Scatter(
                x=[r.period for r in own],
                y=[round(r.documents * j, 3) for r, j in zip(own, jitter)],
                mode="markers",
                name=esc(typ),
                meta={"type": typ},
                marker=dict(color=colors[typ], size=9, opacity=0.8),
                customdata=[[esc(r.name), r.documents, esc(r.first_title)] for r in own],
                hovertemplate="%{customdata[0]}<br>first seen %{x}<br>%{customdata[1]} documents"
                "<br>first: %{customdata[2]}<extra></extra>",
            )
        )
    fig.update_yaxes(type="log", title="documents")
    return fig


def _network_layout(n: int, edges: list[tuple[int, int]], strengths: list[int]) -> np.ndarray:
    """Kamada-Kawai positions scaled to [0, 1], deterministic (fixed seed positions, no random
    steps); pairs sharing more documents are drawn closer (edge length 1 / log2(1 + documents))."""
    if n == 1:
        return np.array([[0.5, 0.5]])
    graph = ig.Graph(n=n, edges=edges)
    seed = np.random.default_rng(42).uniform(-1, 1, (n, 2)).tolist()
    lengths = [1.0 / math.log2(1 + s) for s in strengths]
    coords = np.array(graph.layout_kamada_kawai(seed=seed, weights=lengths).coords)
    span = np.where(np.ptp(coords, axis=0) > 0, np.ptp(coords, axis=0), 1.0)
    return (coords - coords.min(axis=0)) / span


def cooccurrence_figure(concepts: Sequence[ConceptStats], pairs: Sequence[CoOccurrence], labels: int = 25) -> go.Figure:
    """Network of the concepts in `pairs`: igraph layout, node size by documents, colour by type
    (one node trace per type), edges as one line trace; the `labels` biggest nodes are labelled."""
    fig = _base("Co-occurrence of top concepts (shared documents)", height=620)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    if not pairs:
        return _empty(fig, "No concept pairs share enough documents yet")
    stats = {c.entity_id: c for c in concepts}
    for p in pairs:  # concepts of pairs are normally in `concepts`; fill in the rest
        stats.setdefault(p.source_id, ConceptStats(p.source_id, p.source, p.source_type, p.documents, p.documents))
        stats.setdefault(p.target_id, ConceptStats(p.target_id, p.target, p.target_type, p.documents, p.documents))
    ids = sorted({p.source_id for p in pairs} | {p.target_id for p in pairs}, key=lambda i: (-stats[i].documents, i))
    index = {eid: i for i, eid in enumerate(ids)}
    pos = _network_layout(
        len(ids), [(index[p.source_id], index[p.target_id]) for p in pairs], [p.documents for p in pairs]
    )
    xs, ys, edge_types = [], [], []
    for p in pairs:
        a, b = pos[index[p.source_id]], pos[index[p.target_id]]
        xs += [round(a[0], 4), round(b[0], 4), None]
        ys += [round(a[1], 4), round(b[1], 4), None]
        edge_types.append([p.source_type, p.target_type])
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line=dict(width=0.7, color="#b0b0b0"),
            hoverinfo="skip",
            showlegend=False,
            meta={"edges": edge_types},
        )
    )
    top_docs = max(stats[i].documents for i in ids)
    colors = type_colors(stats[i].type for i in ids)
    for typ in colors:
        own = [i for i in ids if stats[i].type == typ]
        fig.add_trace(
            go.Scatter(
                x=[round(pos[index[i]][0], 4) for i in own],
                y=[round(pos[index[i]][1], 4) for i in own],
                mode="markers+text",
                name=esc(typ),
                meta={"type": typ},
                text=[esc(stats[i].name) if index[i] < labels else "" for i in own],
                textposition="top center",
                textfont=dict(size=10),
                marker=dict(
                    color=colors[typ],
                    line=dict(width=0.5, color="#333"),
                    size=[round(8 + 32 * math.sqrt(stats[i].documents / top_docs), 1) for i in own],
                ),
                customdata=[[esc(stats[i].name), stats[i].documents] for i in own],
                hovertemplate="%{customdata[0]}<br>%{customdata[1]} documents<extra></extra>",
            )
        )
    return fig


def relations_figure(rows: Sequence[RelationCount]) -> go.Figure:
    """Horizontal bars of triplets per relation type, most frequent at the top."""
    fig = _base("Relations (triplets per relation type)", height=max(300, 120 + 28 * len(rows)))
    if not rows:
        return _empty(fig, "No triplets yet")
    fig.add_trace(
        go.Bar(
            x=[r.triplets for r in rows],
            y=[esc(r.relation) for r in rows],
            orientation="h",
            marker_color="#72b7b2",
            customdata=[r.documents for r in rows],
            hovertemplate="%{y}: %{x} triplets in %{customdata} documents<extra></extra>",
        )
    )
    fig.update_layout(showlegend=False)
    fig.update_yaxes(type="category", categoryorder="total ascending", automargin=True)
    fig.update_xaxes(title="triplets")
    return fig


def concept_table_figure(rows: Sequence[ConceptRow]) -> go.Figure:
    """A plotly Table of the concept rows (for notebooks; the page renders its own HTML table)."""
    fig = _base("Concepts", height=max(300, min(900, 80 + 26 * len(rows))))
    if not rows:
        return _empty(fig, "No concepts yet")
    columns = ["concept", "type", "documents", "mentions", "first seen", "growth"]
    values = [
        [esc(r.name) for r in rows],
        [esc(r.type) for r in rows],
        [r.documents for r in rows],
        [r.mentions for r in rows],
        [r.first_period or "" for r in rows],
        ["" if r.score is None else f"{r.score:+.2f}" for r in rows],
    ]
    fig.add_trace(go.Table(header=dict(values=columns, align="left"), cells=dict(values=values, align="left")))
    return fig
