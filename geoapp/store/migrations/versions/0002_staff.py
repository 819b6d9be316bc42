"""Staff: accounts, sessions, the workflow, the audit log, subscribers, the outbox, figures.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the staff tables, add triage columns to reports, and guard the audit log."""
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(60), nullable=False, unique=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("email", sa.Text),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("department_code", sa.String(40), sa.ForeignKey("departments.code")),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", _STAMP),
        sa.Column("created_at", _STAMP, nullable=False),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("staff_users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", _STAMP, nullable=False),
        sa.Column("expires_at", _STAMP, nullable=False),
    )
    op.create_table(
        "transitions",
        sa.Column("action", sa.String(40), primary_key=True),
        sa.Column("from_status", sa.String(40), sa.ForeignKey("statuses.code"), primary_key=True),
        sa.Column("to_status", sa.String(40), sa.ForeignKey("statuses.code"), nullable=False),
    )
    with op.batch_alter_table("reports", recreate="never") as batch:
        batch.add_column(sa.Column("department_code", sa.String(40)))
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="2"))
        batch.add_column(sa.Column("assignee_id", sa.Integer))
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("duplicate_of", sa.Integer))
        batch.add_column(sa.Column("first_response_at", _STAMP))
        batch.add_column(sa.Column("closed_at", _STAMP))
    op.execute("UPDATE reports SET department_code = (SELECT department_code FROM categories "
               "WHERE categories.code = reports.category_code)")
    op.create_index("reports_department", "reports", ["department_code"])
    op.create_table(
        "report_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
        sa.Column("at", _STAMP, nullable=False),
        sa.Column("actor_id", sa.Integer, sa.ForeignKey("staff_users.id")),
        sa.Column("actor_name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),  # action, note, reply
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("public", sa.Boolean, nullable=False),
        sa.Column("body", sa.Text),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
    )
    op.create_index("report_events_report", "report_events", ["report_id", "id"])
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("lang", sa.String(5), nullable=False),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.execute(
        "INSERT INTO subscribers (report_id, email, lang, token, active) "
        "SELECT id, reporter_email, lang, 'migrated-' || id, true FROM reports "
        "WHERE reporter_email IS NOT NULL"
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("to_addr", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", _STAMP, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _STAMP, nullable=False),
        sa.Column("claimed_until", _STAMP),
        sa.Column("sent_at", _STAMP),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("outbox_pending", "outbox", ["sent_at", "next_attempt_at"])
    op.create_table(
        "response_templates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("category_code", sa.String(40), sa.ForeignKey("categories.code")),
        sa.Column("status_code", sa.String(40), sa.ForeignKey("statuses.code"), nullable=False),
        sa.Column("lang", sa.String(5), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "map_views",
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("views", sa.Integer, nullable=False),
    )
    # The audit log is append-only in the database itself, not just in the code.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION report_events_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'report_events is append-only'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER report_events_no_change BEFORE UPDATE OR DELETE ON report_events "
            "FOR EACH ROW EXECUTE FUNCTION report_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER report_events_no_{verb.lower()} BEFORE {verb} ON report_events "
                "BEGIN SELECT RAISE(ABORT, 'report_events is append-only'); END"
            )


def downgrade() -> None:
    """Drop the staff tables and columns."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS report_events_no_change ON report_events")
        op.execute("DROP FUNCTION IF EXISTS report_events_append_only()")
    for table in ("map_views", "response_templates", "outbox", "subscribers", "report_events",
                  "staff_sessions", "transitions", "staff_users"):
        op.drop_table(table)
    op.drop_index("reports_department", "reports")
    with op.batch_alter_table("reports") as batch:
        for column in ("closed_at", "first_response_at", "duplicate_of", "version",
                       "assignee_id", "priority", "department_code"):
            batch.drop_column(column)
