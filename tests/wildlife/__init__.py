"""Wildlife tests: devices, ingest, alerts, layers, MQTT."""
