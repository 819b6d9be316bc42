"""Open data: every public layer as GeoJSON, CSV and GeoPackage, and the national formats."""
