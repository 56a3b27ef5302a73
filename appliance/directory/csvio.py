"""CSV files of employees and extensions: reading and writing them (pure), as Excel does.

UTF-8 with or without a byte-order mark; comma, semicolon (Excel in locales with a decimal
comma, Vietnamese included) or tab between values, told by the header row. A cell that a
spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first) is written with a
leading ``'`` and read back without it. Importing is in ``appliance/directory/importer.py``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from appliance.directory.records import Employee, Extension
from appliance.errors import DirectoryError, ValidationError

EMPLOYEE_COLUMNS = ("id", "name", "mobile", "status", "extension")
EXTENSION_COLUMNS = ("number", "name", "permission", "receive", "supervisor", "group",
                     "description", "employee_id")
REQUIRED = {EMPLOYEE_COLUMNS: "name", EXTENSION_COLUMNS: "number"}
MAX_ROWS = 10_000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class Row:
    """One data row: its line in the file and its values by column (only the file's columns)."""

    line: int
    values: dict[str, str]


@dataclass(frozen=True)
class Problem:
    """Why a row (line 0: the whole file) cannot be imported: the directory's own error."""

    line: int
    error: DirectoryError

    @property
    def field(self) -> str | None:
        """The column the error is about, if any."""
        return self.error.field

    def __str__(self) -> str:
        where = f"row {self.line}" if self.line else "file"
        return f"{where}: {self.error}"


def decode(data: bytes) -> str:
    """The text of an uploaded file: UTF-8, a leading byte-order mark dropped."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("file: not UTF-8 text (save it as 'CSV UTF-8')", "file") from None


def encode(text: str) -> bytes:
    """A CSV text as bytes Excel opens with the right letters: UTF-8 with a byte-order mark."""
    return ("\ufeff" + text).encode("utf-8")


def _unescape(value: str) -> str:
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_START:
        return value[1:]
    return value


def _escape(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse(text: str, columns: tuple[str, ...]) -> tuple[list[Row], list[Problem]]:
    """The rows of a CSV text whose header names some of ``columns`` (in any order, any case),
    and the problems of the file itself (an empty file, unknown, missing or repeated columns,
    a row of the wrong length, too many rows). Rows are not checked against the rules here."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    if not first:
        return [], [Problem(0, ValidationError("file: it is empty; the first row names the "
                                               "columns", "file"))]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first))
    problems: list[Problem] = []
    rows: list[Row] = []
    header: list[str] | None = None
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in record]
                problems.extend(_header_problems(header, columns))
                if problems:
                    return [], problems
                continue
            if len(record) != len(header):
                problems.append(Problem(line, ValidationError(
                    f"{len(record)} values, but the first row names {len(header)} columns")))
                continue
            if len(rows) >= MAX_ROWS:
                problems.append(Problem(line, ValidationError(
                    f"file: more than {MAX_ROWS} rows; split it", "file")))
                break
            rows.append(Row(line, {name: _unescape(cell.strip())
                                   for name, cell in zip(header, record, strict=True)}))
    except csv.Error as exc:
        problems.append(Problem(reader.line_num, ValidationError(f"file: not CSV ({exc})",
                                                                 "file")))
    return rows, problems


def _header_problems(header: Sequence[str], columns: tuple[str, ...]) -> list[Problem]:
    problems = []
    for name in dict.fromkeys(header):
        if name not in columns:
            problems.append(Problem(1, ValidationError(
                f"file: unknown column {name!r}; the columns are {', '.join(columns)}",
                "file")))
        elif header.count(name) > 1:
            problems.append(Problem(1, ValidationError(
                f"file: the column {name!r} is there twice", "file")))
    required = REQUIRED[columns]
    if required not in header:
        problems.append(Problem(1, ValidationError(
            f"file: the column {required!r} is needed", "file")))
    return problems


def whole_number(value: str, field: str) -> int:
    """A positive whole number (an id) from a cell."""
    text = value.strip()
    if not text.isdigit() or not text.isascii() or int(text) == 0:
        raise ValidationError(f"{field}: a whole number such as 12, got {value!r}", field)
    return int(text)


def _write(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else _escape(str(v)) for v in row])
    return out.getvalue()


def write(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Rows as CSV text under a header of ``columns``, formula-like cells escaped."""
    return _write(columns, rows)


def employees_csv(people: Iterable[Employee]) -> str:
    """Employees as CSV text (``EMPLOYEE_COLUMNS``)."""
    return _write(EMPLOYEE_COLUMNS, ((p.id, p.name, p.mobile, p.status, p.extension)
                                     for p in people))


def extensions_csv(numbers: Iterable[Extension]) -> str:
    """Extensions as CSV text (``EXTENSION_COLUMNS``); never a password."""
    return _write(EXTENSION_COLUMNS, ((e.number, e.name, e.permission, e.receive, e.supervisor,
                                       e.group, e.description, e.employee_id) for e in numbers))
