"""CSV files of employees and extensions: reading rows as Excel writes them, and imports that
are all or nothing, by the directory's own rules, audited."""

from __future__ import annotations

import pytest

from appliance.directory import Directory, csvio
from appliance.directory.importer import import_csv
from appliance.errors import ValidationError
from appliance.store import Store

AN = "Nguyễn Văn An"
BINH = "Trần Thị Bình"


def test_rows_are_read_with_or_without_bom_and_by_the_header_s_delimiter() -> None:
    for text in (f"\ufeffname,mobile\r\n{AN},84912345678\r\n",
                 f"Name;Mobile\n{AN};84912345678\n\n",
                 f"name\tmobile\n{AN}\t84912345678\n"):
        rows, problems = csvio.parse(text, csvio.EMPLOYEE_COLUMNS)
        assert problems == []
        assert [(r.line, r.values) for r in rows] == [(2, {"name": AN, "mobile": "84912345678"})]
    rows, _ = csvio.parse('name,mobile\n"Lê, Văn ""Cường""",\n', csvio.EMPLOYEE_COLUMNS)
    assert rows[0].values == {"name": 'Lê, Văn "Cường"', "mobile": ""}


def test_bytes_decode_from_utf8_with_bom_only() -> None:
    assert csvio.decode(csvio.encode(f"name\n{AN}\n")) == f"name\n{AN}\n"
    assert csvio.encode("x").startswith(b"\xef\xbb\xbf")
    with pytest.raises(ValidationError, match="not UTF-8"):
        csvio.decode(AN.encode("cp1258", errors="replace") + b"\xff")


@pytest.mark.parametrize(("text", "error"), [
    ("", "empty"),
    ("\n\n", "empty"),
    ("name,colour\nAn,red\n", "unknown column 'colour'"),
    ("name,name\nAn,An\n", "there twice"),
    ("mobile\n84912345678\n", "the column 'name' is needed"),
])
def test_file_problems(text: str, error: str) -> None:
    rows, problems = csvio.parse(text, csvio.EMPLOYEE_COLUMNS)
    assert rows == [] and len(problems) == 1 and error in str(problems[0])


def test_a_row_of_the_wrong_length_is_its_line_s_problem() -> None:
    rows, problems = csvio.parse("name,mobile\nAn,1,2\nBình,\n", csvio.EMPLOYEE_COLUMNS)
    assert [r.line for r in rows] == [3]
    assert str(problems[0]) == "row 2: 3 values, but the first row names 2 columns"


def test_formulas_are_escaped_for_spreadsheets_and_read_back() -> None:
    from appliance.directory.records import Extension

    ext = Extension("101", None, "internal", None, None, "=HYPERLINK(\"x\")", "desk", None,
                    "101", "secret-never-exported", None, None)  # type: ignore[arg-type]
    text = csvio.extensions_csv([ext])
    assert "'=HYPERLINK" in text and "secret" not in text
    rows, _ = csvio.parse(text, csvio.EXTENSION_COLUMNS)
    assert rows[0].values["description"] == '=HYPERLINK("x")'


def test_employees_import_adds_and_assigns_and_round_trips(directory: Directory,
                                                           store: Store) -> None:
    directory.add_extension("100")
    directory.add_extension("101")
    text = f"\ufeffname;mobile;extension\n{AN};+84 912 345 678;100\n{BINH};;101\n"
    preview = import_csv(store, "employees", text, "cli:test", dry_run=True)
    assert not preview.written and preview.problems == []
    assert [str(c) for c in preview.changes] == [
        f"row 2: employee 1 added: {AN}", "row 2: extension 100 assigned: employee 1",
        f"row 3: employee 2 added: {BINH}", "row 3: extension 101 assigned: employee 2"]
    assert directory.list_employees() == []
    assert directory.audit_log(50, "employee") == []
    done = import_csv(store, "employees", text, "cli:test", dry_run=False)
    assert done.written and len(done.changes) == 4
    people = directory.list_employees()
    assert [(p.name, p.mobile, p.extension) for p in people] == [
        (AN, "84912345678", "100"), (BINH, None, "101")]
    actions = [(a.actor, a.action) for a in directory.audit_log(50, None)]
    assert ("cli:test", "employee.added") in actions
    assert ("cli:test", "extension.assigned") in actions
    exported = csvio.employees_csv(people)
    assert AN in exported
    again = import_csv(store, "employees", exported, "cli:test", dry_run=False)
    assert again.changes == [] and again.problems == []


def test_one_bad_row_and_nothing_is_written_with_every_row_s_error(directory: Directory,
                                                                   store: Store) -> None:
    directory.add_extension("100")
    before = len(directory.audit_log(100, None))
    text = ("id,name,mobile,extension\n"
            f",{AN},84912345678,100\n"
            ",Bình,0912,\n"           # a national number: refused
            "x,Cường,,\n"             # not an id
            "99,Dũng,,\n"             # no such employee
            ",Em,,12345\n"            # not an extension
            ",Phương,,100\n")         # 100 goes to row 2 first
    outcome = import_csv(store, "employees", text, "cli:test", dry_run=False)
    assert not outcome.written
    assert [(p.line, p.field) for p in outcome.problems] == [
        (3, "mobile"), (4, "id"), (5, "employee"), (6, "extension"), (7, "number")]
    assert directory.list_employees() == []
    assert directory.get_extension("100").employee_id is None
    assert len(directory.audit_log(100, None)) == before


def test_updates_change_only_what_differs_and_moves_swap(directory: Directory,
                                                          store: Store) -> None:
    an = directory.add_employee(AN, "84912345678")
    binh = directory.add_employee(BINH)
    for number in ("100", "101"):
        directory.add_extension(number)
    directory.assign_extension("100", an.id)
    directory.assign_extension("101", binh.id)
    text = f"id,name,extension\n{an.id},{AN},101\n{binh.id},Trần Thị Bình Minh,100\n"
    outcome = import_csv(store, "employees", text, "web:boss", dry_run=False)
    assert outcome.problems == [] and outcome.written
    assert directory.get_employee(an.id).extension == "101"
    assert directory.get_employee(binh.id).extension == "100"
    assert directory.get_employee(binh.id).name == "Trần Thị Bình Minh"
    assert directory.get_employee(an.id).mobile == "84912345678"  # no mobile column: kept
    assert "row 3: employee 2 updated (name)" in [str(c) for c in outcome.changes]


def test_an_import_never_dismisses(directory: Directory, store: Store) -> None:
    an = directory.add_employee(AN)
    outcome = import_csv(store, "employees", f"id,name,status\n{an.id},{AN},dismissed\n",
                         "t", dry_run=False)
    assert outcome.problems[0].field == "status"
    assert directory.get_employee(an.id).status == "active"
    directory.dismiss(an.id)
    exported = csvio.employees_csv(directory.list_employees())
    assert import_csv(store, "employees", exported, "t", dry_run=False).changes == []


def test_extensions_import_by_the_directory_s_rules(directory: Directory, store: Store) -> None:
    an = directory.add_employee(AN)  # no mobile number
    text = ("number,name,permission,receive,supervisor,group,description,employee_id\n"
            "100,reception,local,both,101,,Lễ tân,\n"   # supervisor added two rows later
            f"102,an.nguyen,mobile,desk,,,,{an.id}\n"
            "101,boss,international,desk,,sales,,\n")
    outcome = import_csv(store, "extensions", text, "t", dry_run=False)
    assert outcome.problems == []
    got = {e.number: e for e in directory.list_extensions()}
    assert got["100"].supervisor == "101" and got["100"].description == "Lễ tân"
    assert got["102"].employee_id == an.id and got["101"].group == "sales"
    bad = ("number,name,permission,receive,supervisor\n"
           "103,reception,internal,desk,\n"   # the name is 100's
           "104,x y,internal,desk,\n"        # not a memorable name
           "105,,root,desk,\n"               # no such permission
           "102,an.nguyen,mobile,mobile,\n"  # mobile, and employee has no mobile number
           "106,,internal,desk,106\n"        # supervises itself
           "107,,internal,desk,999\n")       # no such supervisor
    outcome = import_csv(store, "extensions", bad, "t", dry_run=True)
    assert [(p.line, p.field) for p in outcome.problems] == [
        (2, "name"), (3, "name"), (4, "permission"), (5, "receive"), (6, "supervisor"),
        (7, "supervisor")]
    assert sorted(got) == sorted(e.number for e in directory.list_extensions())
    exported = csvio.extensions_csv(directory.list_extensions())
    assert import_csv(store, "extensions", exported, "t", dry_run=True).changes == []
