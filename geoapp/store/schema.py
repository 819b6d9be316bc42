"""Table definitions shared by every query; migrations create the same tables."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

metadata = sa.MetaData()


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on both engines (SQLite keeps no zone, so it is restored here)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Store as UTC; refuse naive values, whose zone would be a guess."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect
                             ) -> datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

departments = sa.Table(
    "departments", metadata,
    sa.Column("code", sa.String(40), primary_key=True),
    sa.Column("name_ja", sa.Text, nullable=False),
    sa.Column("name_en", sa.Text, nullable=False),
)

categories = sa.Table(
    "categories", metadata,
    sa.Column("code", sa.String(40), primary_key=True),
    sa.Column("department_code", sa.String(40), sa.ForeignKey("departments.code"),
              nullable=False),
    sa.Column("name_ja", sa.Text, nullable=False),
    sa.Column("name_en", sa.Text, nullable=False),
    sa.Column("requires_photo", sa.Boolean, nullable=False, default=False),
    sa.Column("season", sa.String(20)),  # "MM-DD/MM-DD", inclusive, may wrap the year
    sa.Column("attributes", sa.JSON, nullable=False, default=list),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("sort_order", sa.Integer, nullable=False, default=100),
)

statuses = sa.Table(
    "statuses", metadata,
    sa.Column("code", sa.String(40), primary_key=True),
    sa.Column("name_ja", sa.Text, nullable=False),
    sa.Column("name_en", sa.Text, nullable=False),
    sa.Column("public_group", sa.String(20), nullable=False),
    sa.Column("is_open", sa.Boolean, nullable=False),
    sa.Column("sort_order", sa.Integer, nullable=False, default=100),
)

reports = sa.Table(
    "reports", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("category_code", sa.String(40), sa.ForeignKey("categories.code"), nullable=False),
    sa.Column("status_code", sa.String(40), sa.ForeignKey("statuses.code"), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("attributes", sa.JSON, nullable=False, default=dict),
    sa.Column("supporters", sa.Integer, nullable=False, default=0),
    sa.Column("reporter_name", sa.Text),  # private: never in public output
    sa.Column("reporter_email", sa.Text),  # private: never in public output
    sa.Column("lang", sa.String(5), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),  # web, api, open311
    sa.Column("idempotency_key", sa.String(200), unique=True),
    sa.Column("request_hash", sa.String(64)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # Triage (revision 0002): routing may differ from the category's after a forward.
    sa.Column("department_code", sa.String(40)),
    sa.Column("priority", sa.Integer, nullable=False, default=2),  # 1 high, 2 normal, 3 low
    sa.Column("assignee_id", sa.Integer),
    sa.Column("version", sa.Integer, nullable=False, default=1),  # optimistic concurrency
    sa.Column("duplicate_of", sa.Integer),
    sa.Column("first_response_at", UtcDateTime),
    sa.Column("closed_at", UtcDateTime),
)

report_photos = sa.Table(
    "report_photos", metadata,
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("media_key", sa.String(80), nullable=False),
    sa.Column("thumb_key", sa.String(80), nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
)


#: The zoom levels report_cells keeps (migration 0009 says the same; its triggers fill them).
REPORT_CELL_LEVELS = (18, 16, 14, 12, 10)

# Reports counted per WebMercatorQuad tile of each level and per state, with the sums of
# their coordinates, kept exact by triggers on reports (revision 0009): a zoomed-out vector
# tile reads these cells instead of every report it covers.
report_cells = sa.Table(
    "report_cells", metadata,
    sa.Column("level", sa.Integer, primary_key=True),
    sa.Column("cx", sa.Integer, primary_key=True),  # the tile's column at that level
    sa.Column("cy", sa.Integer, primary_key=True),  # and its row, from the north
    sa.Column("status_code", sa.String(40), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),  # may be 0: emptied cells are kept
    sa.Column("sum_lon", sa.Float, nullable=False),
    sa.Column("sum_lat", sa.Float, nullable=False),
    sqlite_with_rowid=False,
)


staff_users = sa.Table(
    "staff_users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(60), nullable=False, unique=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("email", sa.Text),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("department_code", sa.String(40), sa.ForeignKey("departments.code")),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    # Unused since revision 0006: failures are counted per account and address in
    # login_failures, so no one can lock an account for everybody.
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

staff_sessions = sa.Table(
    "staff_sessions", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("staff_users.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

transitions = sa.Table(
    "transitions", metadata,
    sa.Column("action", sa.String(40), primary_key=True),
    sa.Column("from_status", sa.String(40), sa.ForeignKey("statuses.code"), primary_key=True),
    sa.Column("to_status", sa.String(40), sa.ForeignKey("statuses.code"), nullable=False),
)

report_events = sa.Table(
    "report_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor_id", sa.Integer, sa.ForeignKey("staff_users.id")),
    sa.Column("actor_name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # action, note (internal), reply (public)
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("public", sa.Boolean, nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
)

subscribers = sa.Table(
    "subscribers", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("lang", sa.String(5), nullable=False),
    sa.Column("token", sa.String(64), nullable=False, unique=True),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("to_addr", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("claimed_until", UtcDateTime),
    sa.Column("sent_at", UtcDateTime),
    sa.Column("last_error", sa.Text),
)

response_templates = sa.Table(
    "response_templates", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("category_code", sa.String(40), sa.ForeignKey("categories.code")),
    sa.Column("status_code", sa.String(40), sa.ForeignKey("statuses.code"), nullable=False),
    sa.Column("lang", sa.String(5), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)

#: Administrators' changes that concern no one report (append-only, like report_events).
admin_events = sa.Table(
    "admin_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor_id", sa.Integer, sa.ForeignKey("staff_users.id")),
    sa.Column("actor_name", sa.Text, nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(80), nullable=False),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
)

map_views = sa.Table(
    "map_views", metadata,
    sa.Column("fiscal_year", sa.Integer, primary_key=True),
    sa.Column("views", sa.Integer, nullable=False),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),  # SHA-256 of the key
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
    # Accepted Open311 posts per hour for this client (revision 0006), set by admins.
    sa.Column("quota_per_hour", sa.Integer, nullable=False, server_default="1000"),
)

# Community bus (revision 0004): the imported timetable (one feed at a time), the buses'
# device keys and their latest positions.
transit_feed = sa.Table(
    "transit_feed", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_name", sa.Text, nullable=False),
    sa.Column("publisher", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("timezone", sa.String(60), nullable=False),
    sa.Column("sample", sa.Boolean, nullable=False),  # sample data: marked on every page
    sa.Column("problems", sa.JSON, nullable=False),
    sa.Column("imported_at", UtcDateTime, nullable=False),
)

transit_agencies = sa.Table(
    "transit_agencies", metadata,
    sa.Column("agency_id", sa.String(100), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("official_name", sa.Text),  # agency_jp
    sa.Column("url", sa.Text),
    sa.Column("phone", sa.Text),
)

transit_routes = sa.Table(
    "transit_routes", metadata,
    sa.Column("route_id", sa.String(100), primary_key=True),
    sa.Column("agency_id", sa.String(100)),
    sa.Column("short_name", sa.Text, nullable=False),
    sa.Column("long_name", sa.Text, nullable=False),
    sa.Column("long_name_en", sa.Text),
    sa.Column("route_type", sa.Integer, nullable=False),
    sa.Column("color", sa.String(7), nullable=False),
    sa.Column("text_color", sa.String(7), nullable=False),
    sa.Column("parent_route_id", sa.String(100)),
    sa.Column("origin", sa.Text),  # pattern_jp / routes_jp
    sa.Column("destination", sa.Text),
    sa.Column("geometry", sa.JSON),  # GeoJSON MultiLineString: shapes, else stop sequences
)

transit_stops = sa.Table(
    "transit_stops", metadata,
    sa.Column("stop_id", sa.String(100), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_kana", sa.Text),  # ja-Hrkt
    sa.Column("name_en", sa.Text),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("location_type", sa.Integer, nullable=False),
    sa.Column("parent_station", sa.String(100)),
)

transit_trips = sa.Table(
    "transit_trips", metadata,
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

transit_stop_times = sa.Table(
    "transit_stop_times", metadata,
    sa.Column("trip_id", sa.String(200), primary_key=True),
    sa.Column("stop_sequence", sa.Integer, primary_key=True),
    sa.Column("stop_id", sa.String(100), nullable=False, index=True),
    # Seconds from the service day's start (may pass 24 h, as GTFS times do).
    sa.Column("arrival", sa.Integer, nullable=False),
    sa.Column("departure", sa.Integer, nullable=False),
    sa.Column("headsign", sa.Text),
    sa.Column("pickup_type", sa.Integer, nullable=False),
)

transit_calendar = sa.Table(
    "transit_calendar", metadata,
    sa.Column("service_id", sa.String(100), primary_key=True),
    sa.Column("weekdays", sa.String(7), nullable=False),  # "1111100": Monday first
    sa.Column("start_date", sa.String(8), nullable=False),  # YYYYMMDD
    sa.Column("end_date", sa.String(8), nullable=False),
)

transit_calendar_dates = sa.Table(
    "transit_calendar_dates", metadata,
    sa.Column("service_id", sa.String(100), primary_key=True),
    sa.Column("date", sa.String(8), primary_key=True),
    sa.Column("exception_type", sa.Integer, nullable=False),  # 1 added, 2 removed
)

transit_vehicles = sa.Table(
    "transit_vehicles", metadata,
    sa.Column("vehicle_id", sa.String(60), primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("key_hash", sa.String(64), unique=True),  # SHA-256 of the device key
    sa.Column("created_at", UtcDateTime, nullable=False),
)

transit_positions = sa.Table(
    "transit_positions", metadata,
    sa.Column("vehicle_id", sa.String(60), primary_key=True),  # latest position only
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("trip_id", sa.String(200)),
    sa.Column("route_id", sa.String(100)),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("bearing", sa.Float),
    sa.Column("speed", sa.Float),  # metres per second
    sa.Column("observed_at", UtcDateTime, nullable=False),
    sa.Column("source", sa.String(20), nullable=False),  # device or feed
)

# Wildlife (issue 6): devices that report detections, the detections, alert subscriptions.
wildlife_devices = sa.Table(
    "wildlife_devices", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # sensor, ir_camera, ai_camera, trap, other
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("species", sa.JSON, nullable=False),  # the species codes it watches
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("officers", sa.JSON, nullable=False),  # e-mail addresses alerted by a trap
    sa.Column("status", sa.String(20), nullable=False),  # active, maintenance, retired
    sa.Column("visibility", sa.String(10), nullable=False),  # exact, mesh, hidden
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),  # SHA-256 of the key
    sa.Column("created_at", UtcDateTime, nullable=False),
)

wildlife_detections = sa.Table(
    "wildlife_detections", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("device_id", sa.Integer, sa.ForeignKey("wildlife_devices.id")),
    sa.Column("dedup_key", sa.String(300), nullable=False, unique=True),  # device + event id
    sa.Column("event_id", sa.String(200), nullable=False),
    sa.Column("event", sa.String(20), nullable=False),  # detection or triggered (traps)
    sa.Column("species", sa.String(20), nullable=False),
    sa.Column("count", sa.Integer),
    sa.Column("confidence", sa.Float),
    sa.Column("observed_at", UtcDateTime, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("visibility", sa.String(10), nullable=False),  # as the device allowed then
    sa.Column("source", sa.String(10), nullable=False),  # http, mqtt, csv
    sa.Column("photo_key", sa.String(80)),
    sa.Column("thumb_key", sa.String(80)),
    sa.Column("note", sa.Text),
    sa.Index("ix_wildlife_detections_observed_at", "observed_at"),
)

wildlife_subscriptions = sa.Table(
    "wildlife_subscriptions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("lang", sa.String(5), nullable=False),
    sa.Column("species", sa.JSON, nullable=False),
    sa.Column("lon", sa.Float),  # lon, lat, radius_m all None: the whole city
    sa.Column("lat", sa.Float),
    sa.Column("radius_m", sa.Float),
    sa.Column("token", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("confirmed_at", UtcDateTime),
    sa.Column("active", sa.Boolean, nullable=False),
)

# Throttling kept in the store (revision 0006), so every process on it shares the counts.
# Failed logins per (account name, source address): names are hashed, known or not alike.
login_failures = sa.Table(
    "login_failures", metadata,
    sa.Column("name_hash", sa.String(64), primary_key=True),
    sa.Column("address", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", UtcDateTime),
    sa.Column("last_failure_at", UtcDateTime, nullable=False, index=True),
)

# Password checks per account name in the current one-minute window, from every address.
login_checks = sa.Table(
    "login_checks", metadata,
    sa.Column("name_hash", sa.String(64), primary_key=True),
    sa.Column("window_start", UtcDateTime, nullable=False, index=True),
    sa.Column("checks", sa.Integer, nullable=False),
)

# The submission rate limit: one row per counted submission (a sliding log), old rows removed.
rate_hits = sa.Table(
    "rate_hits", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("refused", sa.Boolean, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False, index=True),
    sa.Index("ix_rate_hits_key_at", "key", "at"),
)

# Data versions (revision 0007): a random token per family of layers ("reports",
# "wildlife"), replaced by triggers whenever one of their tables changes; layer ETags
# are derived from it (geoapp.store.versions).
data_versions = sa.Table(
    "data_versions", metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("token", sa.String(40), nullable=False),
)
