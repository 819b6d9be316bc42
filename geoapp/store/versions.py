"""The data version of a family of store-backed layers, shared by every process on a store.

Triggers (migration 0007) replace a family's token whenever one of its tables changes,
in the same transaction, so a version read before the data is never newer than the data.
"""

from __future__ import annotations

import sqlalchemy as sa

from geoapp.store.schema import data_versions


def current(engine: sa.Engine, name: str) -> str:
    """The token of family ``name`` ("reports" or "wildlife"); it changes on every write."""
    with engine.connect() as conn:
        token = conn.execute(sa.select(data_versions.c.token)
                             .where(data_versions.c.name == name)).scalar()
    if token is None:
        raise LookupError(f"no data version {name!r}; is the schema migrated?")
    return token
