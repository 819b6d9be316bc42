"""Submitting and finding reports, on both engines: validation, photos, nearby, idempotency."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from geoapp.errors import Conflict, InvalidInput, PhotoRejected
from geoapp.reports.service import Submission
from tests.imaging import phone_jpeg

WINTER = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)
SUMMER = datetime(2026, 7, 10, 3, 0, tzinfo=UTC)
CITY_HALL = ("37.9477", "139.3275")


def _sub(**overrides) -> Submission:
    values = dict(category="gutter", description="側溝のふたが割れています",
                  lat=CITY_HALL[0], lon=CITY_HALL[1], email="hanako@example.org", name="花子")
    values.update(overrides)
    return Submission(**values)


def test_a_report_with_a_phone_photo_is_stored_without_its_metadata(service):
    outcome = service.submit(_sub(photos=[phone_jpeg(3000, 2000)]))
    assert outcome.created
    photo = outcome.report.photos[0]
    stored = service.media.path(photo.media_key).read_bytes()
    image = Image.open(io.BytesIO(stored))
    assert not image.getexif() and "exif" not in image.info
    assert max(image.size) == 2048 == max(photo.width, photo.height)
    assert service.media.path(photo.thumb_key).is_file()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lat": "37.9161", "lon": "139.0236"}, "location"),  # central Niigata City
        ({"lat": "north"}, "lat"),
        ({"lon": None}, "lon"),
        ({"lat": "95"}, "lat"),
        ({"category": "teleport"}, "category"),
        ({"category": None}, "category"),
        ({"description": "   "}, "description"),
        ({"description": "あ" * 4001}, "description"),
        ({"email": "not-an-address"}, "email"),
        ({"name": "名" * 101}, "name"),
        ({"photos": [b"x"] * 4}, "photos"),
        ({"category": "pavement"}, "photos"),  # a pothole needs a photo
        ({"category": "street_light", "attributes": {"colour": "red"}}, "attribute[colour]"),
    ],
)
def test_bad_submissions_are_refused_and_nothing_is_stored(service, overrides, field):
    with pytest.raises(InvalidInput) as error:
        service.submit(_sub(**overrides))
    assert error.value.field == field
    assert error.value.detail and error.value.detail_ja != error.value.detail
    assert service.store.count() == 0


def test_a_bad_photo_names_itself_and_no_photo_file_is_written(service):
    with pytest.raises(PhotoRejected) as error:
        service.submit(_sub(photos=[phone_jpeg(), b"GIF89a not really"]))
    assert error.value.index == 1 and error.value.field == "photos[1]"
    assert service.store.count() == 0
    assert list(service.media.keys()) == []


def test_the_street_light_number_is_kept(service):
    report = service.submit(_sub(category="street_light",
                                 attributes={"light_number": "新-1234"})).report
    assert report.attributes == {"light_number": "新-1234"}


def test_snow_reports_are_refused_out_of_season(service):
    assert service.submit(_sub(category="snow"), now=WINTER).created
    with pytest.raises(InvalidInput, match="snow"):
        service.submit(_sub(category="snow"), now=SUMMER)


def test_nearby_finds_open_reports_of_the_same_category_within_250_m(service):
    first = service.submit(_sub()).report
    # About 200 m north and 300 m north of the city hall (1" of latitude is ~30.8 m).
    service.submit(_sub(lat="37.9495"))
    service.submit(_sub(lat="37.9504"))
    service.submit(_sub(category="guardrail"))
    found = service.nearby(139.3275, 37.9477, "gutter")
    assert [report.id for report, _ in found] == [first.id, first.id + 1]
    assert found[0][1] < 1 and 190 < found[1][1] < 210


def test_me_too_raises_the_supporter_count(service):
    report = service.submit(_sub()).report
    assert service.support(report.id).supporters == 1
    assert service.support(report.id).supporters == 2


def test_a_retry_with_the_same_key_returns_the_first_report(service):
    first = service.submit(_sub(idempotency_key="phone-123", photos=[phone_jpeg()]))
    again = service.submit(_sub(idempotency_key="phone-123", photos=[phone_jpeg()]))
    assert first.created and not again.created
    assert again.report.id == first.report.id
    assert service.store.count() == 1


def test_a_reused_key_with_a_different_report_is_a_conflict(service):
    service.submit(_sub(idempotency_key="phone-123"))
    with pytest.raises(Conflict):
        service.submit(_sub(idempotency_key="phone-123", description="別の内容"))


def test_the_sweep_removes_photos_no_report_refers_to(service):
    kept = service.submit(_sub(photos=[phone_jpeg()])).report.photos[0]
    orphan = service.media.put(b"left by a crash", "jpg")
    removed = service.sweep_media(older_than_seconds=0)
    assert removed == [orphan]
    assert service.media.exists(kept.media_key) and service.media.exists(kept.thumb_key)
