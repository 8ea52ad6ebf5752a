"""Trend dashboards over the fieldmap store: SQL trend tables (`trends`), plotly figures
(`figures`) and a self-contained HTML page (`build_dashboard`)."""

from dashboards.html import build_dashboard

__all__ = ["build_dashboard"]
