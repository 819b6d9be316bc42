"""An append-only audit log of administrators' changes that concern no one report.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create admin_events, append-only on both engines (as report_events is)."""
    op.create_table(
        "admin_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer, sa.ForeignKey("staff_users.id")),
        sa.Column("actor_name", sa.Text, nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION admin_events_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'admin_events is append-only'; END; $$ LANGUAGE plpgsql")
        op.execute(
            "CREATE TRIGGER admin_events_no_change BEFORE UPDATE OR DELETE ON admin_events "
            "FOR EACH ROW EXECUTE FUNCTION admin_events_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER admin_events_no_{verb.lower()} BEFORE {verb} ON admin_events "
                "BEGIN SELECT RAISE(ABORT, 'admin_events is append-only'); END")


def downgrade() -> None:
    """Drop admin_events."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS admin_events_no_change ON admin_events")
        op.execute("DROP FUNCTION IF EXISTS admin_events_append_only()")
    op.drop_table("admin_events")
