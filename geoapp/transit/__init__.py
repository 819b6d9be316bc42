"""The community bus: GTFS-JP timetables, reservation areas and live bus positions."""
