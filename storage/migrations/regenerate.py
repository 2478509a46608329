"""Regenerate the initial migration from the models (development only, before the first release).

Nothing is deployed yet, so the schema is one migration; after the first release, add new revisions with
`alembic revision --autogenerate` instead. Usage: python -m storage.migrations.regenerate

The migration is written as a frozen table of the schema (every table's columns, keys, checks and indexes, with
their final names) and the few lines that create and drop it, rather than Alembic's autogenerate output: that one
repeats the same `op.create_table`/`batch_op.create_index` blocks for ninety tables in upgrade and again in
downgrade. It imports nothing of the application, so later changes to the models cannot change what it creates.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from string import Template

from sqlalchemy import CheckConstraint, Column, ForeignKeyConstraint, Index, PrimaryKeyConstraint, Table, TypeDecorator
from sqlalchemy import UniqueConstraint
from sqlalchemy.types import TypeEngine

from storage.db import MIGRATIONS_DIR

LINE = 120
TARGET = MIGRATIONS_DIR / "versions" / "0001_initial_schema.py"
# The migration's fixed part (its helpers, upgrade and downgrade); the tables go in at $tables.
TEMPLATE = Template((Path(__file__).with_name("initial_schema.py.template")).read_text())



def type_source(type_: TypeEngine) -> str:
    """`sa.<Type>(…)` as SQLAlchemy spells it; a decorated type is frozen as what the database stores."""
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    if not type(type_).__module__.startswith("sqlalchemy."):
        raise SystemExit(f"regenerate: no frozen spelling for the column type {type_!r}")
    # A type of its own on one database (with_variant), e.g. SQLite's INTEGER primary key: the rowid itself.
    variants = "".join(f".with_variant({type_source(variant)}, {dialect!r})"
                       for dialect, variant in sorted(type_._variant_mapping.items()))
    return f"sa.{type_!r}{variants}"


def column_source(table: Table, column: Column) -> str:
    if column.server_default is not None or column.comment or column.computed is not None or column.identity is not None:
        raise SystemExit(f"regenerate: {table.name}.{column.name} has a server default, comment, computed or identity "
                         "value, which the migration's table does not write yet: add it to storage/migrations/regenerate.py")
    flags = ([", NULL"] if column.nullable and not column.primary_key else []) + \
            ([", CHOSEN"] if column.autoincrement is False else [])
    return f"({column.name!r}, {type_source(column.type)}{''.join(flags)})"


def _names(columns) -> str:  # type: ignore[no-untyped-def]
    return ", ".join(repr(column.name) for column in columns)


def rule_source(table: Table, rule: object) -> str:
    name = getattr(rule, "name", None)
    if not name:
        raise SystemExit(f"regenerate: a constraint or index of {table.name} has no name")
    if isinstance(rule, PrimaryKeyConstraint):
        return f"primary_key({name!r}, {_names(rule.columns)})"
    if isinstance(rule, ForeignKeyConstraint):
        targets = [element.target_fullname for element in rule.elements]
        ondelete = f", {rule.ondelete!r}" if rule.ondelete else ""
        if rule.onupdate or rule.deferrable or rule.initially:
            raise SystemExit(f"regenerate: {name}: ON UPDATE / DEFERRABLE are not written yet")
        return f"foreign_key({name!r}, {[c.name for c in rule.columns]!r}, {targets!r}{ondelete})"
    if isinstance(rule, UniqueConstraint):
        return f"unique({name!r}, {_names(rule.columns)})"
    if isinstance(rule, CheckConstraint):
        return f"check({name!r}, {str(rule.sqltext)!r})"
    if isinstance(rule, Index):
        if any(not isinstance(expression, Column) for expression in rule.expressions):
            raise SystemExit(f"regenerate: {name} indexes an expression, which the migration does not write yet")
        sqlite_where, postgresql_where = (rule.dialect_options[dialect].get("where") for dialect in ("sqlite", "postgresql"))
        if str(sqlite_where) != str(postgresql_where):
            raise SystemExit(f"regenerate: {name} must be partial on SQLite and PostgreSQL alike")
        extra = (", unique=True" if rule.unique else "") + (f", where={str(sqlite_where)!r}" if sqlite_where is not None else "")
        return f"index({name!r}, {_names(rule.expressions)}{extra})"
    raise SystemExit(f"regenerate: {table.name}: no frozen spelling for {rule!r}")


def _packed(first: str, items: list[str], indent: str, last: str) -> list[str]:
    """`first`, then the items separated by commas, as many on a line as fit, then `last`."""
    lines, line = [], first
    for item in items:
        if line.strip() and len(line) + len(item) + 2 > LINE:
            lines.append(line.rstrip())
            line = indent
        line += item + ", "
    return [*lines, line.rstrip(", ") + last]


def _rule_order(rule: object) -> tuple[int, str]:
    kinds = (PrimaryKeyConstraint, ForeignKeyConstraint, UniqueConstraint, CheckConstraint, Index)
    return next(k for k, kind in enumerate(kinds) if isinstance(rule, kind)), str(getattr(rule, "name", ""))


def table_source(table: Table) -> str:
    """One entry of the migration's tables(): (name, [columns…], [keys, checks, indexes…]), packed."""
    rules = sorted([*table.constraints, *table.indexes], key=_rule_order)
    columns = _packed(f"        ({table.name!r}, [", [column_source(table, c) for c in table.columns], " " * 10, "],")
    keys = _packed("         [", [rule_source(table, rule) for rule in rules], " " * 10, "]),")
    return "\n".join([*columns, *keys])


def migration_source(tables: list[Table], created: datetime) -> str:
    return TEMPLATE.substitute(created=created.isoformat(sep=" ", timespec="seconds"),
                               tables="\n".join(table_source(table) for table in tables))


def main() -> None:
    from storage.models import Base

    for old in (MIGRATIONS_DIR / "versions").glob("0001_*.py"):
        old.unlink()
    TARGET.write_text(migration_source(list(Base.metadata.sorted_tables), datetime.now(timezone.utc)))
    print("wrote", Path(TARGET).name)


if __name__ == "__main__":
    main()
