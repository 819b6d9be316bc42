"""Login throttling and the submission rate limit kept in the store, and API key quotas.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the throttling tables and add a quota to API keys."""
    op.create_table(
        "login_failures",
        sa.Column("name_hash", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("locked_until", _TIME),
        sa.Column("last_failure_at", _TIME, nullable=False),
    )
    op.create_index("ix_login_failures_last_failure_at", "login_failures",
                    ["last_failure_at"])
    op.create_table(
        "login_checks",
        sa.Column("name_hash", sa.String(64), primary_key=True),
        sa.Column("window_start", _TIME, nullable=False),
        sa.Column("checks", sa.Integer, nullable=False),
    )
    op.create_index("ix_login_checks_window_start", "login_checks", ["window_start"])
    op.create_table(
        "rate_hits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("refused", sa.Boolean, nullable=False),
        sa.Column("at", _TIME, nullable=False),
    )
    op.create_index("ix_rate_hits_key_at", "rate_hits", ["key", "at"])
    op.create_index("ix_rate_hits_at", "rate_hits", ["at"])
    op.add_column("api_keys", sa.Column("quota_per_hour", sa.Integer, nullable=False,
                                        server_default="1000"))


def downgrade() -> None:
    """Drop the throttling tables and the API key quota."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("quota_per_hour")
    op.drop_table("rate_hits")
    op.drop_table("login_checks")
    op.drop_table("login_failures")
