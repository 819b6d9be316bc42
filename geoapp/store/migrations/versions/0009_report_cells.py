"""Report counts per map cell, kept by the database; a spatial index for wildlife detections.

Revision ID: 0009
Revises: 0008

``report_cells`` holds, for a few zoom levels, how many reports of each state lie in each
WebMercatorQuad tile of that level (``cx`` column, ``cy`` row), with the sums of their
coordinates (so a mean position is sum / count). Triggers on ``reports`` keep it exact on
every insert, move, change of state and delete, whichever process or tool writes, so a
zoomed-out vector tile reads a bounded number of cells instead of every report in it.
Cells whose count falls to 0 are kept (a later report in the same place reuses them).

Detections get the spatial index reports have had since 0001: an R*Tree kept by triggers
on SQLite, a generated point with a GiST index on PostGIS.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: The zoom levels kept (geoapp.store.schema.REPORT_CELL_LEVELS says the same): a tile of
#: zoom z draws its 16 × 16 grid from the nearest level >= z + 4, at most 2 × 2 cells a
#: grid cell from 14 down, and up to zoom 14 (a deeper tile has points).
LEVELS = (18, 16, 14, 12, 10)
#: Web Mercator's latitude limit: beyond it (never in the city) a point goes to the edge row.
_MAX_LAT = 85.0511287798


def _cell(dialect: str, lon: str, lat: str, level: str) -> tuple[str, str]:
    """SQL for the tile column and row holding (``lon``, ``lat``) at zoom ``level``, as
    geoapp.features.tiles.Tile.to_tile computes them (a point on an edge goes east/south)."""
    if dialect == "postgresql":
        least, greatest, whole = "least", "greatest", "integer"
    else:
        least, greatest, whole = "min", "max", "INTEGER"
    size = f"(1 << {level})"
    clamped = f"{greatest}(-{_MAX_LAT}, {least}({_MAX_LAT}, {lat}))"
    merc = f"ln(tan(pi() / 4 + radians({clamped}) / 2))"
    column = f"floor(({lon} + 180.0) / 360.0 * {size})"
    row = f"floor((1.0 - {merc} / pi()) / 2.0 * {size})"

    def bounded(value: str) -> str:
        return f"CAST({greatest}(0, {least}({size} - 1, {value})) AS {whole})"

    return bounded(column), bounded(row)


_LEVELS_SQL = " UNION ALL ".join(f"SELECT {level} AS level" for level in LEVELS)
_UPSERT = (" ON CONFLICT (level, cx, cy, status_code) DO UPDATE SET "
           "count = report_cells.count + excluded.count, "
           "sum_lon = report_cells.sum_lon + excluded.sum_lon, "
           "sum_lat = report_cells.sum_lat + excluded.sum_lat")


def _add_rows(dialect: str, rows: str, sign: str) -> str:
    """INSERT … SELECT adding ``sign`` × the reports of ``rows`` (a FROM item with lon, lat,
    status_code, aliased r) to their cells at every level, one statement."""
    cx, cy = _cell(dialect, "r.lon", "r.lat", "l.level")
    # Grouped, so one statement never touches a cell twice, and ordered, so concurrent
    # writers lock cells in the same order (no deadlock between two bulk inserts).
    return (
        "INSERT INTO report_cells (level, cx, cy, status_code, count, sum_lon, sum_lat) "
        f"SELECT l.level, {cx}, {cy}, r.status_code, sum({sign}), sum({sign} * r.lon), "
        f"sum({sign} * r.lat) FROM {rows} CROSS JOIN ({_LEVELS_SQL}) AS l "
        "WHERE true GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4" + _UPSERT)


def upgrade() -> None:
    """Create report_cells, fill it from the reports there are, add the triggers that keep
    it; add the detections' spatial index."""
    dialect = op.get_bind().dialect.name
    op.create_table(
        "report_cells",
        sa.Column("level", sa.Integer, primary_key=True),
        sa.Column("cx", sa.Integer, primary_key=True),
        sa.Column("cy", sa.Integer, primary_key=True),
        sa.Column("status_code", sa.String(40), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("sum_lon", sa.Float, nullable=False),
        sa.Column("sum_lat", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    # The backfill: every report stored before this revision, in one statement.
    op.execute(_add_rows(dialect, "reports AS r", "1"))
    if dialect == "postgresql":
        _postgres_triggers()
        op.execute(
            "ALTER TABLE wildlife_detections ADD COLUMN geom geometry(Point, 4326) GENERATED "
            "ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED")
        op.execute("CREATE INDEX wildlife_detections_geom_gist ON wildlife_detections "
                   "USING gist (geom)")
    else:
        _sqlite_triggers()
        _sqlite_detections_rtree()


def _postgres_triggers() -> None:
    # Statement triggers with transition tables: a bulk insert of thousands of reports
    # updates each cell once, not once a report. PostgreSQL allows no column list with
    # transition tables, so the update trigger itself skips rows whose place and state
    # did not change (most updates are staff work on other columns).
    added = _add_rows("postgresql", "new_rows AS r", "1")
    removed = _add_rows("postgresql", "old_rows AS r", "-1")
    moved = _add_rows(
        "postgresql",
        "(SELECT o.lon, o.lat, o.status_code, -1 AS sign FROM old_rows o JOIN new_rows n "
        "USING (id) WHERE (o.lon, o.lat, o.status_code) IS DISTINCT FROM "
        "(n.lon, n.lat, n.status_code) UNION ALL SELECT n.lon, n.lat, n.status_code, 1 "
        "FROM old_rows o JOIN new_rows n USING (id) WHERE (o.lon, o.lat, o.status_code) "
        "IS DISTINCT FROM (n.lon, n.lat, n.status_code)) AS r", "r.sign")
    for name, body in (("insert", added), ("delete", removed), ("update", moved)):
        op.execute(f"CREATE FUNCTION report_cells_{name}() RETURNS trigger AS $$ BEGIN "
                   f"{body}; RETURN NULL; END $$ LANGUAGE plpgsql")
    op.execute("CREATE TRIGGER report_cells_insert AFTER INSERT ON reports "
               "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
               "EXECUTE FUNCTION report_cells_insert()")
    op.execute("CREATE TRIGGER report_cells_delete AFTER DELETE ON reports "
               "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
               "EXECUTE FUNCTION report_cells_delete()")
    op.execute("CREATE TRIGGER report_cells_update AFTER UPDATE ON reports "
               "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
               "EXECUTE FUNCTION report_cells_update()")
    # TRUNCATE fires no row or DELETE trigger: it empties the cells too.
    op.execute("CREATE FUNCTION report_cells_truncate() RETURNS trigger AS $$ BEGIN "
               "DELETE FROM report_cells; RETURN NULL; END $$ LANGUAGE plpgsql")
    op.execute("CREATE TRIGGER report_cells_truncate AFTER TRUNCATE ON reports "
               "FOR EACH STATEMENT EXECUTE FUNCTION report_cells_truncate()")


def _sqlite_triggers() -> None:
    # SQLite has row triggers only: one upsert per level and report.
    def one(row: str, sign: str) -> str:
        return _add_rows("sqlite", f"(SELECT {row}.lon AS lon, {row}.lat AS lat, "
                                   f"{row}.status_code AS status_code) AS r", sign)

    op.execute(f"CREATE TRIGGER report_cells_insert AFTER INSERT ON reports BEGIN "
               f"{one('new', '1')}; END")
    op.execute(f"CREATE TRIGGER report_cells_delete AFTER DELETE ON reports BEGIN "
               f"{one('old', '-1')}; END")
    op.execute("CREATE TRIGGER report_cells_update AFTER UPDATE OF lon, lat, status_code "
               "ON reports WHEN old.lon IS NOT new.lon OR old.lat IS NOT new.lat "
               "OR old.status_code IS NOT new.status_code BEGIN "
               f"{one('old', '-1')}; {one('new', '1')}; END")


def _sqlite_detections_rtree() -> None:
    # As reports_rtree (0001): kept in step by triggers, so no write path can forget it.
    op.execute("CREATE VIRTUAL TABLE wildlife_detections_rtree USING "
               "rtree(id, min_lon, max_lon, min_lat, max_lat)")
    op.execute("INSERT INTO wildlife_detections_rtree SELECT id, lon, lon, lat, lat "
               "FROM wildlife_detections")
    op.execute(
        "CREATE TRIGGER wildlife_detections_rtree_insert AFTER INSERT ON wildlife_detections "
        "BEGIN INSERT INTO wildlife_detections_rtree "
        "VALUES (new.id, new.lon, new.lon, new.lat, new.lat); END")
    op.execute(
        "CREATE TRIGGER wildlife_detections_rtree_update AFTER UPDATE OF lon, lat "
        "ON wildlife_detections BEGIN UPDATE wildlife_detections_rtree SET "
        "min_lon = new.lon, max_lon = new.lon, min_lat = new.lat, max_lat = new.lat "
        "WHERE id = new.id; END")
    op.execute(
        "CREATE TRIGGER wildlife_detections_rtree_delete AFTER DELETE ON wildlife_detections "
        "BEGIN DELETE FROM wildlife_detections_rtree WHERE id = old.id; END")


def downgrade() -> None:
    """Drop what this revision created."""
    if op.get_bind().dialect.name == "postgresql":
        for name in ("insert", "delete", "update", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS report_cells_{name} ON reports")
            op.execute(f"DROP FUNCTION IF EXISTS report_cells_{name}()")
        op.execute("DROP INDEX IF EXISTS wildlife_detections_geom_gist")
        op.execute("ALTER TABLE wildlife_detections DROP COLUMN IF EXISTS geom")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS report_cells_{name}")
            op.execute(f"DROP TRIGGER IF EXISTS wildlife_detections_rtree_{name}")
        op.execute("DROP TABLE IF EXISTS wildlife_detections_rtree")
    op.drop_table("report_cells")
