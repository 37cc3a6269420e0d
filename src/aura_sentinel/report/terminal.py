"""The report in the terminal: the same sections as the HTML, as Rich tables."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aura_sentinel.report.content import Report
from aura_sentinel.report.sections import Section, TableView


def print_report(console: Console, report: Report, sections: list[Section]) -> None:
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    for section in sections:
        console.rule(f"[bold]{escape(section.title)}")
        for sentence in section.lead:
            console.print(escape(sentence))
        for view in section.tables:
            console.print(_table(view))


def _table(view: TableView) -> Table:
    table = Table(title=escape(view.caption))
    for header, numeric in zip(view.headers, view.numeric, strict=True):
        table.add_column(escape(header), justify="right" if numeric else "left")
    for row in view.rows:
        table.add_row(*(escape(cell) for cell in row))
    return table
