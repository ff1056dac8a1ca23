"""A run's report as one self-contained HTML file (figures inlined; no network to view it)."""

from __future__ import annotations

from nas.report._html import render_report, write_report

__all__ = ["render_report", "write_report"]
