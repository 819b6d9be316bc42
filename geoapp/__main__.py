"""``python -m geoapp`` runs the CLI."""

from geoapp.cli import main

main()
