"""The math functions report_cells' triggers need, on an SQLite built without them."""

from __future__ import annotations

import sqlite3

import pytest

from geoapp.store.engine import _MATH

#: Arguments as the triggers pass them (Shibata's latitudes in radians, their tangents),
#: and some outside a function's domain, where SQLite answers NULL.
VALUES = [0.0, -1.0, 0.5, 1.0, 0.66, 1.2345, 37.95, 139.33, 1e6, None]


@pytest.mark.parametrize("name", sorted(_MATH))
def test_the_fallback_answers_as_sqlites_own_function(name: str) -> None:
    conn = sqlite3.connect(":memory:")
    arity, function = _MATH[name]
    conn.create_function(f"fallback_{name}", arity, function, deterministic=True)
    if arity == 0:
        own, fallback = conn.execute(f"SELECT {name}(), fallback_{name}()").fetchone()
        assert own == pytest.approx(fallback, rel=1e-15)
        return
    for value in VALUES:
        own, fallback = conn.execute(f"SELECT {name}(?), fallback_{name}(?)",
                                     (value, value)).fetchone()
        if own is None:  # outside the function's domain, or NULL in
            assert fallback is None, value
        else:
            assert own == pytest.approx(fallback, rel=1e-15), value
