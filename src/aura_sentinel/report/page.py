"""The report as one self-contained HTML file: inline style, charts as SVG data, no script.

Every value that comes from the data (column names, category levels, file names) is escaped.
Nothing is fetched from a network: the page works offline, in a mail attachment and on paper.
"""

from __future__ import annotations

import base64
from html import escape

from aura_sentinel import __version__
from aura_sentinel.report.charts import Chart
from aura_sentinel.report.content import Report
from aura_sentinel.report.sections import Section, TableView

_STYLE = """
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --band: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #fff; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; padding-bottom: 0.25rem;
     border-bottom: 2px solid var(--line); }
p { margin: 0.5rem 0; }
.meta, .note { color: var(--muted); }
.note { border-left: 4px solid #e69f00; padding-left: 0.5rem; }
.scroll { overflow-x: auto; margin: 0.75rem 0; }
table { border-collapse: collapse; min-width: 50%; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: 0.3rem 0.6rem; vertical-align: top; }
th { background: var(--band); text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1rem 0; }
figure img { display: block; width: 100%; max-width: 40rem; height: auto; }
figcaption { color: var(--muted); font-size: 0.85rem; }
@media print {
  main { max-width: none; padding: 0; }
  section, figure, table { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"""


def report_html(report: Report, sections: list[Section], charts: list[Chart]) -> str:
    by_key = {chart.key: chart for chart in charts}
    body = [
        "<header>",
        "<h1>Retention report</h1>",
        f'<p class="meta">{report.customers:,} customers from {escape(report.results.name)}, '
        f"model bundle {escape(report.models.name)}; aura-sentinel {escape(__version__)}.</p>",
        *(f'<p class="note">Note: {escape(note)}</p>' for note in report.notes),
        "</header>",
    ]
    for section in sections:
        body.append(f'<section id="{section.key}" aria-labelledby="{section.key}-title">')
        body.append(f'<h2 id="{section.key}-title">{escape(section.title)}</h2>')
        body.extend(f"<p>{escape(sentence)}</p>" for sentence in section.lead)
        body.extend(_table(view) for view in section.tables)
        body.extend(_figure(by_key[key]) for key in section.charts if key in by_key)
        body.append("</section>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>Retention report</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            "<main>",
            *body,
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _table(view: TableView) -> str:
    head = "".join(f'<th scope="col">{escape(header)}</th>' for header in view.headers)
    rows = []
    for row in view.rows:
        cells = []
        for index, (cell, numeric) in enumerate(zip(row, view.numeric, strict=True)):
            if index == 0:
                cells.append(f'<th scope="row">{escape(cell)}</th>')
            else:
                css = ' class="number"' if numeric else ""
                cells.append(f"<td{css}>{escape(cell)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<div class="scroll"><table><caption>{escape(view.caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _figure(chart: Chart) -> str:
    data = base64.b64encode(chart.svg.encode("utf-8")).decode("ascii")
    return (
        f'<figure id="chart-{chart.key}">'
        f'<img src="data:image/svg+xml;base64,{data}" alt="{escape(chart.alt)}">'
        f"<figcaption>{escape(chart.title)}</figcaption></figure>"
    )
