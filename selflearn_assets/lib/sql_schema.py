"""The columns of a warehouse table as its schema file declares them: name, type and the `-- comment` after the
column, so that `dbt_like_sql/<schema>/schema.sql` is the one place a column is described (the Dagster column
schema of the assets is read from it).

A column is `name TYPE [constraints][,] [-- comment]`, usually one line; a type may hold parentheses and commas
(`STRUCT(name VARCHAR, value VARCHAR)[]`, `MAP(VARCHAR, VARCHAR)`) and a column may span lines (the comments of
its lines are joined). Comment-only lines between columns are notes on a group of columns and describe none.
Table constraints (`PRIMARY KEY (a, b)`, `UNIQUE (...)`, `CHECK (...)`) are not columns. A column that an
`ALTER TABLE <table> ADD COLUMN` after the CREATE adds is appended, unless the CREATE already has it.
`schema_tables` names the tables a file creates, so that a test can hold every column of a file to a description.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from selflearn_assets.lib.sql import load_sql

_CONSTRAINTS = {
    "NOT",
    "NULL",
    "PRIMARY",
    "UNIQUE",
    "DEFAULT",
    "CHECK",
    "REFERENCES",
    "COLLATE",
    "GENERATED",
    "AS",
}
_TABLE_CONSTRAINTS = ("PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT")
_CREATE_TABLE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([\w.]+)\s*\(", re.I
)


class Column(NamedTuple):
    name: str
    type: str  # as written in the file, e.g. "STRUCT(name VARCHAR, value VARCHAR)[]"
    comment: str  # the `-- comment` after the column ("" when none)
    not_null: bool = False  # NOT NULL or PRIMARY KEY


def table_columns(sql: str, table: str) -> list[Column]:
    """The columns of `CREATE TABLE [IF NOT EXISTS] <table> (...)` in `sql`, in order, and those that
    `ALTER TABLE <table> ADD COLUMN` statements add. KeyError when `sql` does not create `table`."""
    lines = sql.splitlines()
    create = re.compile(
        rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{re.escape(table)}\s*\(", re.I
    )
    start = next((i for i, line in enumerate(lines) if create.match(_code(line))), None)
    if start is None:
        raise KeyError(f"no CREATE TABLE {table} in the SQL")
    columns: list[Column] = []
    code, comments, depth = "", [], 0  # the column being read, the comments of its lines, paren depth
    first = _code(lines[start])
    body = [(first[first.index("(") + 1 :], "")] + [_split(line) for line in lines[start + 1 :]]
    for text, comment in body:
        ended, closed = [], False  # columns whose definition ends on this line; the table's ")" reached
        for ch in text:
            if ch == "(":
                depth += 1
            elif ch == ")" and depth == 0:
                ended.append(code)
                closed = True
                break
            elif ch == ")":
                depth -= 1
            elif ch == "," and depth == 0:
                ended.append(code)
                code = ""
                continue
            code += ch
        code += " "
        tail = "" if closed else code.strip()  # a column that starts (or goes on) on this line
        if ended:
            notes = [comments] + [[] for _ in ended[1:]]
            comments = []
            if comment and not tail:  # the line's comment describes the last column that ended on it
                notes[-1].append(comment)
            for element, element_notes in zip(ended, notes, strict=True):
                _add(columns, element, element_notes)
        if closed:
            return columns + _added_columns(sql, table, {c.name for c in columns})
        if comment and tail:  # a comment-only line outside a column is a note on the columns below
            comments.append(comment)
    raise ValueError(f"CREATE TABLE {table} is not closed")


def schema_tables(sql: str) -> list[str]:
    """The tables `sql` creates (`CREATE [OR REPLACE] TABLE [IF NOT EXISTS] <name> (`), in file order; views,
    macros and commented-out statements are not tables."""
    return [match.group(1) for line in sql.splitlines() if (match := _CREATE_TABLE.match(_code(line)))]


def warehouse_columns(table: str) -> list[Column]:
    """`table_columns` of `<schema>.<name>` in its stage's `dbt_like_sql/<schema>/schema.sql`."""
    schema = table.split(".", 1)[0]
    return table_columns(load_sql(f"{schema}/schema.sql"), table)


def _add(columns: list[Column], element: str, comments: list[str]) -> None:
    column = _column(element, " ".join(comments))
    if column is not None:
        columns.append(column)


def _column(element: str, comment: str) -> Column | None:
    """A column from its definition `name TYPE constraints` (None for a table constraint or nothing)."""
    element = " ".join(element.split())
    if not element or element.split(" ", 1)[0].upper() in _TABLE_CONSTRAINTS:
        return None
    if element.startswith('"'):
        end = element.index('"', 1)
        name, rest = element[1:end], element[end + 1 :].strip()
    else:
        name, _, rest = element.partition(" ")
    type_words, depth = [], 0
    words = rest.split(" ")
    for i, word in enumerate(words):
        if depth == 0 and word.upper() in _CONSTRAINTS:
            constraints = " ".join(words[i:]).upper()
            break
        depth += word.count("(") - word.count(")")
        type_words.append(word)
    else:
        constraints = ""
    not_null = "NOT NULL" in constraints or "PRIMARY KEY" in constraints
    return Column(name, " ".join(type_words), comment.strip(), not_null)


def _added_columns(sql: str, table: str, known: set[str]) -> list[Column]:
    alter = re.compile(
        rf"^\s*ALTER\s+TABLE\s+{re.escape(table)}\s+ADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?(.+?);?\s*$", re.I
    )
    added = []
    for line in sql.splitlines():
        match = alter.match(_code(line))
        if match:
            column = _column(match.group(1).rstrip(";"), _comment(line))
            if column is not None and column.name not in known:
                known.add(column.name)
                added.append(column)
    return added


def _split(line: str) -> tuple[str, str]:
    """(code, comment) of a line: the comment starts at the first `--` outside a quoted string."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif line.startswith("--", i):
            return line[:i], line[i + 2 :].strip()
    return line, ""


def _code(line: str) -> str:
    return _split(line)[0]


def _comment(line: str) -> str:
    return _split(line)[1]
