"""Photos residents attach to reports: checked, re-encoded without metadata, stored by hash."""
