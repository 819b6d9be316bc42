"""Data versions: a token per store-backed layer family, changed by triggers on every write.

Revision ID: 0007
Revises: 0006

Layer answers carry an ETag derived from these tokens, so every geoapp process on one
store sees the same version without a per-process counter. The tokens are random rather
than counted, so a restored backup never brings back a token that once named other data.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: Which tables change which family's token (geoapp.store.versions reads them).
WATCHED = {
    "reports": ("reports", "report_photos", "report_events", "categories", "statuses"),
    "wildlife": ("wildlife_detections", "wildlife_devices"),
}


def upgrade() -> None:
    """Create the token table, one row per family, and the triggers that change them."""
    op.create_table(
        "data_versions",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("token", sa.String(40), nullable=False),
    )
    for name in WATCHED:
        op.execute(sa.text("INSERT INTO data_versions (name, token) VALUES (:n, :t)")
                   .bindparams(n=name, t="initial"))
    if op.get_bind().dialect.name == "postgresql":
        # Deferred to the commit: the token row is locked only while a writer commits (not
        # for its whole transaction), and only once per transaction (a row this transaction
        # already changed carries its xid in xmin). TRUNCATE has only statement triggers.
        op.execute(
            "CREATE FUNCTION data_versions_bump() RETURNS trigger AS $$ BEGIN "
            "UPDATE data_versions SET token = md5(random()::text || clock_timestamp()::text) "
            "WHERE name = TG_ARGV[0] AND xmin <> pg_current_xact_id()::xid; "
            "RETURN NULL; END $$ LANGUAGE plpgsql")
        for name, tables in WATCHED.items():
            for table in tables:
                op.execute(
                    f"CREATE CONSTRAINT TRIGGER data_versions_{table} "
                    f"AFTER INSERT OR UPDATE OR DELETE ON {table} "
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                    f"EXECUTE FUNCTION data_versions_bump('{name}')")
                op.execute(
                    f"CREATE TRIGGER data_versions_{table}_truncate AFTER TRUNCATE ON {table} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION data_versions_bump('{name}')")
        return
    # SQLite: writers already take the database's one write lock, so a plain row trigger
    # adds no waiting of its own.
    for name, tables in WATCHED.items():
        for table in tables:
            for verb in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER data_versions_{table}_{verb.lower()} AFTER {verb} "
                    f"ON {table} BEGIN UPDATE data_versions "
                    f"SET token = lower(hex(randomblob(8))) WHERE name = '{name}'; END")


def downgrade() -> None:
    """Drop the triggers and the token table."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for tables in WATCHED.values():
        for table in tables:
            if postgres:
                op.execute(f"DROP TRIGGER IF EXISTS data_versions_{table} ON {table}")
                op.execute(f"DROP TRIGGER IF EXISTS data_versions_{table}_truncate ON {table}")
            else:
                for verb in ("insert", "update", "delete"):
                    op.execute(f"DROP TRIGGER IF EXISTS data_versions_{table}_{verb}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS data_versions_bump()")
    op.drop_table("data_versions")
