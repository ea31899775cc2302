"""Personal data sealed at rest (Nghị định 13/2023/NĐ-CP): the CCCD, date of birth and
personal contact encrypted (AES-256-GCM), the CCCD's keyed blind index, the personal-read log

Revision ID: 0023_personal_data
Revises: 0022_audit_anchors
Create Date: 2026-12-05 17:30:00

Existing rows are sealed here, a page at a time, with the keys the hub gives the engine
(`idhub.models.sealed.attach`, done by `Hub.db`: `idhub db upgrade` and `idhub run`
migrate through it). A bare engine without keys migrates an empty database only.
The downgrade opens the values again (it needs the same keys).
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import idhub.models.base
from idhub.models.sealed import PersonalKeys, keys_of

revision: str = "0023_personal_data"
down_revision: str | None = "0022_audit_anchors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 1000
SEALED = ("national_id", "date_of_birth", "personal_email", "personal_phone")

_SQLITE_GUARDS = [
    "CREATE TRIGGER personal_read_no_update BEFORE UPDATE ON personal_read "
    "BEGIN SELECT RAISE(ABORT, 'personal reads are append-only'); END",
    "CREATE TRIGGER personal_read_no_delete BEFORE DELETE ON personal_read "
    "BEGIN SELECT RAISE(ABORT, 'personal reads are append-only'); END",
]
_PG_GUARDS = [
    "CREATE FUNCTION personal_read_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'personal reads are append-only'; END $$",
    "CREATE TRIGGER personal_read_no_change BEFORE UPDATE OR DELETE ON personal_read "
    "FOR EACH ROW EXECUTE FUNCTION personal_read_append_only()",
]


def _person(index: bool) -> sa.TableClause:
    """The person table's columns touched here, as raw text (no sealing type)."""
    columns: list[sa.ColumnClause[Any]] = [sa.column("id", sa.Uuid())]
    columns += [sa.column(c, sa.Text()) for c in SEALED]
    if index:
        columns.append(sa.column("national_id_index", sa.String(64)))
    return sa.table("person", *columns)


def _keys() -> PersonalKeys | None:
    """The engine's keys when there are people to seal or open, else None."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM person LIMIT 1")).first() is None:
        return None
    try:
        return keys_of(bind.dialect)
    except RuntimeError as exc:
        raise RuntimeError(
            "people are in the database: their personal data is sealed (or opened) by this "
            "migration, which needs the hub's keys. Migrate with `idhub db upgrade` (or "
            "downgrade), which gives them."
        ) from exc


def _rewrite(table: sa.TableClause, change: Callable[[Any], dict[str, Any]]) -> None:
    """Rewrite every person a page at a time (keyset on id), one executemany per page."""
    bind = op.get_bind()
    last = None
    while True:
        query = sa.select(table).order_by(table.c.id).limit(PAGE)
        if last is not None:
            query = query.where(table.c.id > last)
        rows = bind.execute(query).all()
        if not rows:
            return
        bind.execute(
            sa.update(table).where(table.c.id == sa.bindparam("row_id")),
            [{"row_id": row.id, **change(row)} for row in rows],
        )
        last = rows[-1].id


def upgrade() -> None:
    keys = _keys()  # first: asking the keyring may read the database on its own connection
    with op.batch_alter_table("person") as batch:
        batch.drop_constraint(op.f("uq_person_national_id"), type_="unique")
        batch.drop_constraint(op.f("ck_person_national_id_length"), type_="check")
        batch.add_column(sa.Column("national_id_index", sa.String(length=64), nullable=True))
        for column, old in (
            ("national_id", sa.String(length=12)),
            ("date_of_birth", sa.Date()),
            ("personal_email", sa.String(length=254)),
            ("personal_phone", sa.String(length=32)),
        ):
            batch.alter_column(
                column,
                type_=sa.Text(),
                existing_type=old,
                postgresql_using=f"{column}::text",
            )
    if keys is not None:

        def seal(row: Any) -> dict[str, Any]:
            values = {
                c: None if getattr(row, c) is None else keys.seal(getattr(row, c), f"person.{c}")
                for c in SEALED
            }
            return {**values, "national_id_index": keys.blind(row.national_id)}

        _rewrite(_person(index=True), seal)
    with op.batch_alter_table("person") as batch:
        batch.alter_column("national_id_index", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint(op.f("uq_person_national_id_index"), ["national_id_index"])

    op.create_table(
        "personal_read",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", idhub.models.base.UTCDateTime(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=128), nullable=True),
        sa.Column("door", sa.String(length=32), nullable=False),
        sa.Column("fields", sa.String(length=200), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("source_ip", sa.String(length=45), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_personal_read_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_read")),
    )
    op.create_index("ix_personal_read_person_at", "personal_read", ["person_id", "at"])
    dialect = op.get_bind().dialect.name
    for statement in _PG_GUARDS if dialect == "postgresql" else _SQLITE_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    keys = _keys()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS personal_read_no_change ON personal_read")
        op.execute("DROP FUNCTION IF EXISTS personal_read_append_only()")
    op.drop_index("ix_personal_read_person_at", table_name="personal_read")
    op.drop_table("personal_read")
    if keys is not None:

        def unseal(row: Any) -> dict[str, Any]:
            return {
                c: None if getattr(row, c) is None else keys.open(getattr(row, c), f"person.{c}")
                for c in SEALED
            }

        _rewrite(_person(index=False), unseal)
    with op.batch_alter_table("person") as batch:
        batch.drop_constraint(op.f("uq_person_national_id_index"), type_="unique")
        batch.drop_column("national_id_index")
        for column, old in (
            ("national_id", sa.String(length=12)),
            ("date_of_birth", sa.Date()),
            ("personal_email", sa.String(length=254)),
            ("personal_phone", sa.String(length=32)),
        ):
            if column == "date_of_birth" and op.get_bind().dialect.name == "sqlite":
                # SQLite copies the column with CAST(… AS DATE), a number: '1990-05-01'
                # would become 1990. Its dates are ISO text under either declared type.
                continue
            batch.alter_column(
                column,
                type_=old,
                existing_type=sa.Text(),
                postgresql_using=f"{column}::{'date' if column == 'date_of_birth' else 'text'}",
            )
        batch.create_unique_constraint(op.f("uq_person_national_id"), ["national_id"])
        batch.create_check_constraint(
            op.f("ck_person_national_id_length"), "length(national_id) = 12"
        )
