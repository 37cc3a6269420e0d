"""The size an .xlsx sheet would take in memory, bounded before the sheet is read.

calamine holds every cell of the rectangle a sheet's cells span, and aborts the process when that
memory cannot be had: a 1.5 KB file with cells at A1 and XFD1048576 asks for 17 billion cells.
The first sheet's declared dimension is read from the start of its XML; when it is absent, or
a cell lies beyond it, every cell with a value is placed by a streaming parse instead.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from aura_sentinel.errors import DataError

# calamine holds every cell of the rectangle a sheet's cells span, and aborts the process when
# that memory cannot be had: a 1.5 KB file with cells at A1 and XFD1048576 asks for 17 billion
# cells. A sheet that declares or spans more cells than this is refused before it is read;
# 50 million cells is 2.4 million customers of the 21-column Telco table, more than a sheet holds.
XLSX_MAX_CELLS = 50_000_000
_XML_PART_LIMIT = 16 * 1024 * 1024  # workbook.xml and its relationships are a few KB
_SHEET_HEAD_LIMIT = 1024 * 1024  # a sheet's <dimension> comes before its cells
_CHUNK = 4 * 1024 * 1024
_REF = re.compile(r"([A-Z]{1,3})([0-9]{1,9})")
_SHEET_DATA = re.compile(rb"<([A-Za-z_][\w.-]*:)?sheetData[\s>/]")

Extent = tuple[int, int]  # rows, columns


def check_sheet_size(path: Path) -> None:
    """Refuse an .xlsx whose first sheet declares or spans more than XLSX_MAX_CELLS cells."""
    with zipfile.ZipFile(path) as archive:
        for part in _first_sheet_parts(archive):
            declared, prefix = _declared_extent(archive, part)
            if declared is not None:
                _refuse_large_sheet(path, declared, "declares")
                if _cells_within(archive, part, declared[1], prefix):
                    continue
            _refuse_large_sheet(path, _parsed_extent(archive, part), "spans")


def _refuse_large_sheet(path: Path, extent: Extent, verb: str) -> None:
    rows, columns = extent
    if rows * columns > XLSX_MAX_CELLS:
        raise DataError(
            str(path),
            f"the first sheet {verb} {rows:,} rows x {columns:,} columns "
            f"({rows * columns:,} cells, more than the {XLSX_MAX_CELLS:,} an .xlsx may have here)",
            "export the table as CSV or Parquet",
        )


def _first_sheet_parts(archive: zipfile.ZipFile) -> list[str]:
    """The zip member of the workbook's first sheet; every worksheet when that is unclear."""
    names = set(archive.namelist())
    workbook = _xml_part(archive, "xl/workbook.xml", names)
    relations = _xml_part(archive, "xl/_rels/workbook.xml.rels", names)
    sheet = next((e for e in workbook.iter() if _local(e.tag) == "sheet"), None)
    if sheet is not None:
        relation = next((value for key, value in sheet.items() if _local(key) == "id"), None)
        for element in relations.iter():
            if _local(element.tag) == "Relationship" and element.get("Id") == relation:
                target = element.get("Target", "")
                part = target[1:] if target.startswith("/") else posixpath.join("xl", target)
                part = posixpath.normpath(part)
                if part in names:
                    return [part]
    return sorted(n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml"))


def _xml_part(archive: zipfile.ZipFile, name: str, names: set[str]) -> ElementTree.Element:
    if name not in names:
        return ElementTree.Element("absent")
    with archive.open(name) as handle:
        return ElementTree.fromstring(handle.read(_XML_PART_LIMIT))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _declared_extent(archive: zipfile.ZipFile, part: str) -> tuple[Extent | None, bytes]:
    """The extent in the sheet's <dimension ref="A1:D20">, if any, and the namespace prefix
    of its elements (b"" or b"x:"), from at most the first _SHEET_HEAD_LIMIT bytes."""
    parser: ElementTree.XMLPullParser[ElementTree.Element] = ElementTree.XMLPullParser(
        events=("start",)
    )
    head = b""
    declared: Extent | None = None
    with archive.open(part) as handle:
        while len(head) < _SHEET_HEAD_LIMIT and (chunk := handle.read(64 * 1024)):
            head += chunk
            parser.feed(chunk)
            elements = [event[-1] for event in parser.read_events()]
            names = {_local(e.tag): e for e in elements if isinstance(e, ElementTree.Element)}
            if "dimension" in names:
                declared = _ref_extent(names["dimension"].get("ref", ""))
            if "sheetData" in names:
                break
    found = _SHEET_DATA.search(head)
    return declared, (found.group(1) or b"") if found else b""


def _ref_extent(ref: str) -> Extent | None:
    """Rows and columns from A1 to the end of a range such as "A1:XFD1048576"."""
    found = _REF.fullmatch(ref.rsplit(":", 1)[-1].replace("$", ""))
    return None if found is None else (int(found.group(2)), _column_number(found.group(1)))


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def _cells_within(archive: zipfile.ZipFile, part: str, columns: int, prefix: bytes) -> bool:
    """Whether every cell gives its position (r="B7") and all of them fit in `columns`
    columns and as many rows as keep the sheet within XLSX_MAX_CELLS: regular expression
    passes for cells beyond, cells without a plain position and cells written with another
    namespace prefix (a cheap check; when it fails `_parsed_extent` places every cell)."""
    most = XLSX_MAX_CELLS // columns  # rounded down to d999..9, cheaper to match
    rows = int(str(most)[0]) * 10 ** (len(str(most)) - 1) - 1
    if rows < 1:
        return False
    beyond = re.compile(
        rb'<%sc r="(?:(?:%s)[0-9]|[A-Z]{1,3}(?:%s)")'
        % (
            prefix,
            _above(_column_letters(columns), _LETTERS).encode(),
            _above(str(rows), _DIGITS).encode(),
        )
    )
    unplaced = re.compile(rb'<%sc(?=[\s>/])(?! r="[A-Z]{1,3}[0-9])' % prefix)
    foreign = re.compile(rb"(?<!<%s):c[\s>/]|<c[\s>/]" % prefix[:-1] if prefix else rb":c[\s>/]")
    checks = (beyond, unplaced, foreign)
    carry = b""
    with archive.open(part) as handle:
        while chunk := handle.read(_CHUNK):
            text = carry + chunk
            cut = text.rfind(b"<")
            text, carry = text[:cut], text[cut:]
            if any(check.search(text) for check in checks):
                return False
    return not any(check.search(carry) for check in checks)


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"


def _column_letters(number: int) -> str:
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = _LETTERS[rest] + letters
    return letters or "A"


def _above(value: str, alphabet: str) -> str:
    """A regular expression for the words of `alphabet` after `value`: longer, or as long
    and later in order (as numbers without leading zeros, or column letters, compare)."""
    first, last = alphabet[0], alphabet[-1]
    options = [f"[{first}-{last}]{{{len(value) + 1},}}"]
    for index, char in enumerate(value):
        if char != last:
            later = alphabet[alphabet.index(char) + 1]
            tail = len(value) - index - 1
            options.append(f"{value[:index]}[{later}-{last}][{first}-{last}]{{{tail}}}")
    return "|".join(options)


def _parsed_extent(archive: zipfile.ZipFile, part: str) -> Extent:
    """Every cell with a value, placed as calamine places it: by its r="B7", else next to the
    previous cell of its row; a row without r="7" follows the previous row."""
    rows = columns = 0
    row = column = -1
    with archive.open(part) as handle:
        for event, element in ElementTree.iterparse(handle, events=("start", "end")):
            name = _local(element.tag)
            if event == "start" and name == "row":
                position = element.get("r")
                row = int(position) - 1 if position and position.isdigit() else row + 1
                column = -1
            elif event == "start" and name == "c":
                found = _REF.fullmatch(element.get("r", "").upper())
                if found is None:
                    column += 1
                else:
                    row, column = int(found.group(2)) - 1, _column_number(found.group(1)) - 1
            elif event == "end" and name == "c":
                if any(_local(child.tag) in {"v", "is"} and _has_text(child) for child in element):
                    rows, columns = max(rows, row + 1), max(columns, column + 1)
                element.clear()
            elif event == "end" and name == "row":
                element.clear()
    return rows, columns


def _has_text(element: ElementTree.Element) -> bool:
    return any(element.itertext())
