"""Reports, their photos, categories, departments and states, with a spatial index.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the report tables and each engine's own spatial index."""
    op.create_table(
        "departments",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name_ja", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text, nullable=False),
    )
    op.create_table(
        "categories",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("department_code", sa.String(40), sa.ForeignKey("departments.code"),
                  nullable=False),
        sa.Column("name_ja", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text, nullable=False),
        sa.Column("requires_photo", sa.Boolean, nullable=False),
        sa.Column("season", sa.String(20)),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("sort_order", sa.Integer, nullable=False),
    )
    op.create_table(
        "statuses",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name_ja", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text, nullable=False),
        sa.Column("public_group", sa.String(20), nullable=False),
        sa.Column("is_open", sa.Boolean, nullable=False),
        sa.Column("sort_order", sa.Integer, nullable=False),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("category_code", sa.String(40), sa.ForeignKey("categories.code"),
                  nullable=False),
        sa.Column("status_code", sa.String(40), sa.ForeignKey("statuses.code"), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("supporters", sa.Integer, nullable=False),
        sa.Column("reporter_name", sa.Text),
        sa.Column("reporter_email", sa.Text),
        sa.Column("lang", sa.String(5), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("idempotency_key", sa.String(200), unique=True),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("reports_status_category", "reports", ["status_code", "category_code"])
    op.create_index("reports_created_at", "reports", ["created_at"])
    op.create_table(
        "report_photos",
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("media_key", sa.String(80), nullable=False),
        sa.Column("thumb_key", sa.String(80), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # GiST on a generated point: inserts stay engine-neutral (lon, lat only).
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        op.execute(
            "ALTER TABLE reports ADD COLUMN geom geometry(Point, 4326) GENERATED ALWAYS AS "
            "(ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED"
        )
        op.execute("CREATE INDEX reports_geom_gist ON reports USING gist (geom)")
    else:
        # An R*Tree kept in step by triggers, so no write path can forget it.
        op.execute(
            "CREATE VIRTUAL TABLE reports_rtree USING rtree(id, min_lon, max_lon, min_lat, max_lat)"
        )
        op.execute(
            "CREATE TRIGGER reports_rtree_insert AFTER INSERT ON reports BEGIN "
            "INSERT INTO reports_rtree VALUES (new.id, new.lon, new.lon, new.lat, new.lat); END"
        )
        op.execute(
            "CREATE TRIGGER reports_rtree_update AFTER UPDATE OF lon, lat ON reports BEGIN "
            "UPDATE reports_rtree SET min_lon = new.lon, max_lon = new.lon, "
            "min_lat = new.lat, max_lat = new.lat WHERE id = new.id; END"
        )
        op.execute(
            "CREATE TRIGGER reports_rtree_delete AFTER DELETE ON reports BEGIN "
            "DELETE FROM reports_rtree WHERE id = old.id; END"
        )


def downgrade() -> None:
    """Drop everything this revision created."""
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS reports_rtree")
    for table in ("report_photos", "reports", "statuses", "categories", "departments"):
        op.drop_table(table)
