"""Road-damage reports: validating, storing and finding them (no HTTP here)."""
