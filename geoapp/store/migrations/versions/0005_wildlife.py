"""Wildlife devices, their detections, and public alert subscriptions.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the wildlife tables."""
    op.create_table(
        "wildlife_devices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("species", sa.JSON, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("officers", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "wildlife_detections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.Integer, sa.ForeignKey("wildlife_devices.id")),
        sa.Column("dedup_key", sa.String(300), nullable=False, unique=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("species", sa.String(20), nullable=False),
        sa.Column("count", sa.Integer),
        sa.Column("confidence", sa.Float),
        sa.Column("observed_at", _TIME, nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("photo_key", sa.String(80)),
        sa.Column("thumb_key", sa.String(80)),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_wildlife_detections_observed_at", "wildlife_detections",
                    ["observed_at"])
    op.create_table(
        "wildlife_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("lang", sa.String(5), nullable=False),
        sa.Column("species", sa.JSON, nullable=False),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("radius_m", sa.Float),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("confirmed_at", _TIME),
        sa.Column("active", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    """Drop the wildlife tables."""
    op.drop_table("wildlife_subscriptions")
    op.drop_index("ix_wildlife_detections_observed_at", "wildlife_detections")
    op.drop_table("wildlife_detections")
    op.drop_table("wildlife_devices")
