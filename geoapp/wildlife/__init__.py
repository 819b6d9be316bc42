"""Wildlife: devices that report animal detections, alerts to subscribers, the public layer."""
