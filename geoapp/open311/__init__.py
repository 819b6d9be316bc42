"""Open311 GeoReport v2: the standard door for apps and other city systems."""
