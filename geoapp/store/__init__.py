"""The store: one interface over two engines (SQLite embedded, PostgreSQL + PostGIS)."""
