"""A base for feature sources read live from the store (reports, detections, buses).

Everything a page needs is pushed into ONE SQL query: the bbox (the spatial index where
there is one, then an exact test), property filters, the order, the limit and where the
page starts (a keyset cursor, or a bounded offset). Subclasses say which rows the public
may see, how a property filter reads in SQL and how rows become features; they may run
one more query per page for what the page's own rows need (the photos of its reports).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from geoapp.errors import InvalidParameter
from geoapp.features import cursor as cursors
from geoapp.features.source import BBox, Feature, Page, Summary

if TYPE_CHECKING:
    from geoapp.features.tiles import Cells

#: The largest ``offset`` served: reading past it costs more the further it goes, while a
#: ``next`` link's cursor costs the same on every page.
MAX_OFFSET = 10_000
#: ``numberMatched`` is given when at most this many features match (counted with the
#: page's own WHERE and ``LIMIT`` one more, so the count never reads more rows than this).
COUNT_LIMIT = 10_000
#: Features per query when every feature is read (downloads, small listings).
CHUNK = 1000


class StoreSource:
    """Features read from one table of the store, a page per query."""

    engine: sa.Engine
    #: The sort key and the unique id the pages are ordered by (the key may be the id).
    order_key: sa.ColumnElement[Any]
    order_id: sa.ColumnElement[Any]
    descending: bool = False

    # -- what subclasses say ---------------------------------------------------------------

    def _select(self, now: datetime) -> sa.Select:
        """The rows the public may see, with the columns ``_publish`` needs; no order."""
        raise NotImplementedError

    def _position(self) -> tuple[sa.ColumnElement[float], sa.ColumnElement[float]]:
        """The published longitude and latitude of a row, as SQL expressions."""
        raise NotImplementedError

    def _filter(self, key: str, text: str, now: datetime) -> sa.ColumnElement[bool]:
        """SQL for "property ``key`` equals ``text``" (as :func:`filter_key` writes values)."""
        if key == "place":
            # The nearest town is found per page, in memory (geoapp.places): no column holds it.
            raise InvalidParameter(key, "the nearest town cannot filter; ask by bbox instead")
        raise InvalidParameter(key, "this collection cannot be filtered by this property")

    def _candidates(self, conn: sa.Connection, bbox: BBox) -> sa.ColumnElement[bool] | None:
        """The spatial index's (rounded, inclusive) clause for ``bbox``; None without one."""
        return None

    def _publish(self, conn: sa.Connection, rows: Sequence[sa.Row], now: datetime
                 ) -> list[Feature]:
        """The page's rows as features (may query what these rows need, such as photos)."""
        raise NotImplementedError

    def _tile_properties(self, now: datetime) -> list[sa.ColumnElement[Any]]:
        """The few labelled columns a vector tile's points carry (their id is the feature's)."""
        return []

    def _cells(self, now: datetime) -> Cells | None:
        """The counts per map cell the store keeps of the public rows, for zoomed-out
        vector tiles; None: tiles count the points themselves."""
        return None

    def _key_to_json(self, value: Any) -> Any:
        """The sort key as a cursor carries it."""
        return value

    def _key_from_json(self, value: Any) -> Any:
        """The sort key back from a cursor; InvalidParameter when it is not one."""
        return value

    def _now(self) -> datetime:
        return datetime.now(UTC)

    # -- the interface web/ogc.py uses -----------------------------------------------------

    def query(self, *, bbox: BBox | None = None, filters: Mapping[str, str] | None = None,
              limit: int, offset: int = 0, cursor: str | None = None) -> Page:
        """Features in ``bbox`` whose properties equal ``filters``, one page of them."""
        return self._page(bbox, filters or {}, limit, offset, cursor, count=True)

    def _page(self, bbox: BBox | None, filters: Mapping[str, str], limit: int, offset: int,
              cursor: str | None, *, count: bool, encode: bool = True) -> Page:
        if offset > MAX_OFFSET:
            raise InvalidParameter(
                "offset", f"at most {MAX_OFFSET}; to read further, follow the page's next "
                          "link, whose cursor costs the same on every page")
        now = self._now()
        with self.engine.connect() as conn:
            where = self._where(conn, bbox, filters, now)
            statement = self._select(now).where(*where)
            if cursor is not None:
                statement = statement.where(self._after(cursors.decode(cursor)))
            key_order = [self.order_key, self.order_id] if self.order_key is not self.order_id \
                else [self.order_id]
            statement = statement.order_by(
                *(c.desc() if self.descending else c.asc() for c in key_order))
            rows = conn.execute(statement.limit(limit + 1).offset(offset or None)).all()
            more = len(rows) > limit
            rows = rows[:limit]
            features = self._publish(conn, rows, now)
            matched: int | None = None
            if cursor is None and not offset and not more:
                matched = len(rows)  # the whole answer is on this page
            elif count:
                matched = bounded_count(conn, self._select(now).where(*where))
        next_cursor = None
        if more:
            last = rows[-1]
            next_cursor = cursors.encode(self._key_to_json(last._mapping[self.order_key])
                                         if self.order_key is not self.order_id else None,
                                         last._mapping[self.order_id])
        # Encoded for a page's answer; reading every feature (downloads) encodes its own.
        encoded = [orjson.dumps(f.to_geojson()) for f in features] if encode else []
        return Page(features, encoded, matched, next_cursor)

    #: Remember summary() until version() changes: for sources whose version() is one cheap
    #: read of a store token. The aggregate reads every public row (270 ms at 1,000,000
    #: reports on SQLite), and the map page and /collections ask for it on every view.
    remember_summary = False
    _remembered: tuple[str, Summary] | None = None

    def version(self) -> str:
        """A token that changes whenever the features may have changed."""
        raise NotImplementedError

    def summary(self) -> Summary:
        """How many features there are and their bbox, from one aggregate query."""
        version = self.version() if self.remember_summary else ""
        remembered = self._remembered
        if remembered is not None and remembered[0] == version:
            return remembered[1]
        lon, lat = self._position()
        statement = self._select(self._now()).with_only_columns(
            sa.func.count(), sa.func.min(lon), sa.func.min(lat), sa.func.max(lon),
            sa.func.max(lat), maintain_column_froms=True)
        with self.engine.connect() as conn:
            count, *box = conn.execute(statement).one()
        summary = Summary(count, tuple(box) if count else None)  # type: ignore[arg-type]
        if self.remember_summary:
            # Read before the aggregate: a write in between makes the next call count again.
            self._remembered = (version, summary)
        return summary

    @property
    def extent(self) -> BBox | None:
        """The bbox of the features, or None when there are none."""
        return self.summary().extent

    def __len__(self) -> int:
        return self.summary().count

    def iter_features(self) -> Iterator[Feature]:
        """Every feature, read a page at a time by cursor."""
        cursor = None
        while True:
            page = self._page(None, {}, CHUNK, 0, cursor, count=False, encode=False)
            yield from page.features
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    @property
    def features(self) -> list[Feature]:
        """Every feature (for small layers and listings; pages read them by cursor)."""
        return list(self.iter_features())

    # -- helpers ---------------------------------------------------------------------------

    def _where(self, conn: sa.Connection, bbox: BBox | None, filters: Mapping[str, str],
               now: datetime) -> list[sa.ColumnElement[bool]]:
        where = [self._filter(key, text, now) for key, text in filters.items()]
        if bbox is not None:
            minx, miny, maxx, maxy = bbox
            candidates = self._candidates(conn, bbox)
            if candidates is not None:
                where.append(candidates)
            lon, lat = self._position()
            where += [lon >= minx, lon <= maxx, lat >= miny, lat <= maxy]
        return where

    def _after(self, position: tuple[Any, int | str]) -> sa.ColumnElement[bool]:
        """Rows after the cursor's (key, id) in the page order."""
        key, last_id = position
        if not isinstance(last_id, self.order_id.type.python_type):
            raise InvalidParameter("cursor", "not a page cursor of this collection")
        later = (lambda c, v: c < v) if self.descending else (lambda c, v: c > v)
        if self.order_key is self.order_id:
            return later(self.order_id, last_id)
        value = self._key_from_json(key)
        # Spelled out rather than a row-value comparison so both engines use the index.
        return sa.or_(later(self.order_key, value),
                      sa.and_(self.order_key == value, later(self.order_id, last_id)))


def bounded_count(conn: sa.Connection, statement: sa.Select, limit: int = COUNT_LIMIT
                  ) -> int | None:
    """How many rows ``statement`` selects, or None when more than ``limit``.

    Counted with ``LIMIT limit + 1``, so counting never reads more rows than that.
    """
    bounded = statement.with_only_columns(sa.literal(1), maintain_column_froms=True) \
        .order_by(None).limit(limit + 1).subquery()
    found = conn.execute(sa.select(sa.func.count()).select_from(bounded)).scalar_one()
    return found if found <= limit else None


def same_instant(column: sa.ColumnElement[datetime], text: str, precision: timedelta
                 ) -> sa.ColumnElement[bool]:
    """SQL for "``column``, published to ``precision``, reads ``text``" (an ISO time).

    A time published to the second (or minute) names every instant of that second, so the
    filter is a half-open range; a value without a zone matches nothing, as published
    values always carry one.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return sa.false()
    if moment.tzinfo is None:
        return sa.false()
    return sa.and_(column >= moment, column < moment + precision)


def parse_whole(text: str) -> int | None:
    """A filter value as a whole number, or None when it is not one (nothing matches)."""
    try:
        return int(text)
    except ValueError:
        return None
