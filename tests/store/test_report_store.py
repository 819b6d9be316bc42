"""The report store behaves the same on SQLite and PostGIS (every test runs on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from geoapp.errors import Conflict, NotFound
from geoapp.store.engine import current_revision, migrate
from geoapp.store.records import NewReport, Photo
from geoapp.store.reports import DuplicateIdempotencyKey
from tests.conftest import REFERENCE_DATA

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
CITY_HALL = (139.3275, 37.9477)


def _new(**overrides) -> NewReport:
    values = dict(category_code="pavement", description="穴があいています", lon=CITY_HALL[0],
                  lat=CITY_HALL[1], lang="ja", source="web",
                  photos=[Photo("a" * 64 + ".jpg", "b" * 64 + ".jpg", 2048, 1536)],
                  reporter_name="新発田 太郎", reporter_email="taro@example.org")
    values.update(overrides)
    return NewReport(**values)


def test_migrations_reach_head_and_run_again_harmlessly(store):
    assert current_revision(store.engine) == "0009"
    migrate(store.engine)
    assert current_revision(store.engine) == "0009"


def test_each_engine_has_its_own_spatial_index(store):
    store.insert(_new(), status_code="received", now=NOW)
    with store.engine.connect() as conn:
        if store.engine_name == "sqlite":
            rows = conn.execute(sa.text("SELECT id, min_lon, min_lat FROM reports_rtree")).all()
            assert len(rows) == 1 and abs(rows[0].min_lon - CITY_HALL[0]) < 1e-4
        else:
            index = conn.execute(sa.text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'reports_geom_gist'")).scalar()
            assert "gist" in index.lower()
            srid = conn.execute(sa.text("SELECT ST_SRID(geom) FROM reports")).scalar()
            assert srid == 4326


def test_a_report_and_its_photos_round_trip(store):
    stored = store.insert(_new(attributes={"light_number": "A-12"}), status_code="received",
                          now=NOW)
    again = store.get(stored.id)
    assert again == stored
    assert again.created_at == NOW and again.created_at.tzinfo is not None
    assert again.photos[0].width == 2048
    assert again.attributes == {"light_number": "A-12"}


def test_the_public_record_carries_no_contact_which_stays_retrievable_for_staff(store):
    stored = store.insert(_new(), status_code="received", now=NOW)
    assert "taro@example.org" not in repr(stored) and "新発田 太郎" not in repr(stored)
    contact = store.contact(stored.id)
    assert contact.email == "taro@example.org" and contact.name == "新発田 太郎"


def test_nothing_is_half_written_when_a_photo_row_fails(store):
    bad = _new(photos=[Photo("a" * 64 + ".jpg", "b" * 64 + ".jpg", 1, 1),
                       Photo(None, "c" * 64 + ".jpg", 1, 1)])  # type: ignore[arg-type]
    with pytest.raises(sa.exc.IntegrityError):
        store.insert(bad, status_code="received", now=NOW)
    assert store.count() == 0
    assert store.media_keys() == set()


def test_bbox_queries_use_the_index_and_filter_by_state_and_category(store):
    near = store.insert(_new(), status_code="received", now=NOW)
    store.insert(_new(lon=139.40, lat=37.99), status_code="received", now=NOW)
    store.insert(_new(category_code="gutter"), status_code="received", now=NOW)
    box = (139.32, 37.94, 139.33, 37.95)
    assert {r.id for r in store.in_bbox(box)} == {near.id, near.id + 2}
    assert [r.id for r in store.in_bbox(box, categories_in=["pavement"])] == [near.id]
    assert store.in_bbox(box, statuses_in=["fixed"]) == []


def test_an_idempotency_key_is_stored_once(store):
    store.insert(_new(idempotency_key="k-1", request_hash="h"), status_code="received", now=NOW)
    with pytest.raises(DuplicateIdempotencyKey):
        store.insert(_new(idempotency_key="k-1", request_hash="h"), status_code="received",
                     now=NOW)
    assert store.count() == 1
    report, request_hash = store.by_idempotency_key("k-1")
    assert request_hash == "h" and report.description == "穴があいています"


def test_me_too_counts_on_open_reports_only(store):
    stored = store.insert(_new(), status_code="received", now=NOW)
    later = NOW + timedelta(hours=1)
    assert store.add_supporter(stored.id, later).supporters == 1
    assert store.get(stored.id).updated_at == later
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE reports SET status_code = 'fixed'"))
    with pytest.raises(Conflict):
        store.add_supporter(stored.id, later)
    with pytest.raises(NotFound):
        store.add_supporter(9999, later)


def test_reference_data_is_seeded_without_overwriting_edits(store):
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE categories SET name_en = 'Potholes' WHERE code = 'pavement'"))
    store.seed(REFERENCE_DATA)
    assert next(c for c in store.categories() if c.code == "pavement").name_en == "Potholes"
    changed = store.seed(REFERENCE_DATA, update=True)
    assert changed["categories"] == len(REFERENCE_DATA["categories"])
    pavement = next(c for c in store.categories() if c.code == "pavement")
    assert pavement.name_en == "Pavement damage and potholes"


def test_every_category_is_routed_to_a_department(store):
    departments = {d.code for d in store.departments()}
    categories = store.categories()
    assert {c.department_code for c in categories} <= departments
    routed_away = {c.code: c.department_code for c in categories if c.department_code != "road"}
    assert routed_away == {"traffic_safety": "traffic_safety", "illegal_dumping": "environment",
                           "dead_animal": "environment", "park": "parks"}


def test_snow_is_taken_in_the_snow_season_only(store):
    snow = next(c for c in store.categories() if c.code == "snow")
    assert snow.in_season(datetime(2026, 1, 15).date())
    assert snow.in_season(datetime(2026, 11, 1).date())
    assert not snow.in_season(datetime(2026, 7, 1).date())
