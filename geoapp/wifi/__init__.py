"""Public Wi-Fi: the recommended-format list, its import, and matching to facilities."""
