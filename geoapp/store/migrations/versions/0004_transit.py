"""Community bus: the imported GTFS-JP timetable, device keys and latest bus positions.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the transit tables."""
    op.create_table(
        "transit_feed",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_name", sa.Text, nullable=False),
        sa.Column("publisher", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("timezone", sa.String(60), nullable=False),
        sa.Column("sample", sa.Boolean, nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("imported_at", _TZ, nullable=False),
    )
    op.create_table(
        "transit_agencies",
        sa.Column("agency_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("official_name", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("phone", sa.Text),
    )
    op.create_table(
        "transit_routes",
        sa.Column("route_id", sa.String(100), primary_key=True),
        sa.Column("agency_id", sa.String(100)),
        sa.Column("short_name", sa.Text, nullable=False),
        sa.Column("long_name", sa.Text, nullable=False),
        sa.Column("long_name_en", sa.Text),
        sa.Column("route_type", sa.Integer, nullable=False),
        sa.Column("color", sa.String(7), nullable=False),
        sa.Column("text_color", sa.String(7), nullable=False),
        sa.Column("parent_route_id", sa.String(100)),
        sa.Column("origin", sa.Text),
        sa.Column("destination", sa.Text),
        sa.Column("geometry", sa.JSON),
    )
    op.create_table(
        "transit_stops",
        sa.Column("stop_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_kana", sa.Text),
        sa.Column("name_en", sa.Text),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("location_type", sa.Integer, nullable=False),
        sa.Column("parent_station", sa.String(100)),
    )
    op.create_table(
        "transit_trips",
        sa.Column("trip_id", sa.String(200), primary_key=True),
        sa.Column("route_id", sa.String(100), nullable=False),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("headsign", sa.Text, nullable=False),
        sa.Column("headsign_en", sa.Text),
        sa.Column("direction_id", sa.Integer),
        sa.Column("shape_id", sa.String(100)),
        sa.Column("office_id", sa.String(100)),
        sa.Column("pattern_id", sa.String(100)),
    )
    op.create_table(
        "transit_stop_times",
        sa.Column("trip_id", sa.String(200), primary_key=True),
        sa.Column("stop_sequence", sa.Integer, primary_key=True),
        sa.Column("stop_id", sa.String(100), nullable=False),
        sa.Column("arrival", sa.Integer, nullable=False),
        sa.Column("departure", sa.Integer, nullable=False),
        sa.Column("headsign", sa.Text),
        sa.Column("pickup_type", sa.Integer, nullable=False),
    )
    op.create_index("ix_transit_stop_times_stop_id", "transit_stop_times", ["stop_id"])
    op.create_table(
        "transit_calendar",
        sa.Column("service_id", sa.String(100), primary_key=True),
        sa.Column("weekdays", sa.String(7), nullable=False),
        sa.Column("start_date", sa.String(8), nullable=False),
        sa.Column("end_date", sa.String(8), nullable=False),
    )
    op.create_table(
        "transit_calendar_dates",
        sa.Column("service_id", sa.String(100), primary_key=True),
        sa.Column("date", sa.String(8), primary_key=True),
        sa.Column("exception_type", sa.Integer, nullable=False),
    )
    op.create_table(
        "transit_vehicles",
        sa.Column("vehicle_id", sa.String(60), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("key_hash", sa.String(64), unique=True),
        sa.Column("created_at", _TZ, nullable=False),
    )
    op.create_table(
        "transit_positions",
        sa.Column("vehicle_id", sa.String(60), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("trip_id", sa.String(200)),
        sa.Column("route_id", sa.String(100)),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("bearing", sa.Float),
        sa.Column("speed", sa.Float),
        sa.Column("observed_at", _TZ, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
    )


def downgrade() -> None:
    """Drop the transit tables."""
    for table in ("transit_positions", "transit_vehicles", "transit_calendar_dates",
                  "transit_calendar", "transit_stop_times", "transit_trips", "transit_stops",
                  "transit_routes", "transit_agencies", "transit_feed"):
        op.drop_table(table)
