"""geoapp: Shibata City's public map service."""

__version__ = "0.1.0"
