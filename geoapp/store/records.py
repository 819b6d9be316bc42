"""Plain records the store returns: what a report is, apart from any engine or HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from geoapp.i18n import Lang, data_name, data_names


class _Named:
    """Reference rows named in Japanese and English (a catalogue may name them in others)."""

    family: ClassVar[str]  # their catalogue keys: ``<family>.<code>``
    code: str
    name_ja: str
    name_en: str

    def name(self, lang: Lang) -> str:
        """The name in ``lang`` (geoapp.i18n.data_name)."""
        return data_name(self.family, self.code, lang, {"ja": self.name_ja, "en": self.name_en})

    def names(self) -> dict[Lang, str]:
        """The name in every language spoken, for a text rendered later in its reader's."""
        return data_names(self.family, self.code, {"ja": self.name_ja, "en": self.name_en})


@dataclass(frozen=True)
class Department(_Named):
    """A city department that receives reports."""

    family: ClassVar[str] = "reports.department"
    code: str
    name_ja: str
    name_en: str


@dataclass(frozen=True)
class Category(_Named):
    """A kind of report and the department it is routed to."""

    family: ClassVar[str] = "reports.category"
    code: str
    department_code: str
    name_ja: str
    name_en: str
    requires_photo: bool
    season: str | None
    attributes: list[dict[str, Any]]
    active: bool
    sort_order: int

    def in_season(self, day: date) -> bool:
        """Whether reports of this category are taken on ``day`` (always, without a season)."""
        if not self.season:
            return True
        start, end = ((int(p[:2]), int(p[3:5])) for p in self.season.split("/"))
        today = (day.month, day.day)
        if start <= end:
            return start <= today <= end
        return today >= start or today <= end  # the season wraps the new year


@dataclass(frozen=True)
class Status(_Named):
    """A report state and how the public map shows it."""

    family: ClassVar[str] = "reports.status"
    code: str
    name_ja: str
    name_en: str
    public_group: str  # new, progress, fixed, closed
    is_open: bool
    sort_order: int


@dataclass(frozen=True)
class Photo:
    """A processed photo of a report, by its content-addressed media keys."""

    media_key: str
    thumb_key: str
    width: int
    height: int


@dataclass(frozen=True)
class Report:
    """A report as anyone may see it: no reporter name or e-mail here."""

    id: int
    category_code: str
    status_code: str
    description: str
    lon: float
    lat: float
    attributes: dict[str, Any]
    supporters: int
    lang: str
    source: str
    created_at: datetime
    updated_at: datetime
    photos: tuple[Photo, ...] = ()


@dataclass(frozen=True)
class Contact:
    """How to reach a reporter: staff only, never in public output."""

    name: str | None
    email: str | None


@dataclass
class NewReport:
    """A validated report ready to be stored (its photos already in the media store)."""

    category_code: str
    description: str
    lon: float
    lat: float
    lang: str
    source: str
    attributes: dict[str, Any] = field(default_factory=dict)
    reporter_name: str | None = None
    reporter_email: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    photos: list[Photo] = field(default_factory=list)
