"""Readiness for load balancers: ``/readyz`` answers 200 only while the store answers."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request

from geoapp.store.engine import ping

router = APIRouter()


# A plain function on purpose: FastAPI runs it in its thread pool, so a slow database
# never blocks the event loop (and /healthz) while the ping waits.
@router.get("/readyz", include_in_schema=False)
def ready(request: Request) -> dict[str, object]:
    """200 while the database answers a trivial query; 503 (problem+json) while it does not.

    ``leader`` says whether this process runs the background work (geoapp.leader), and
    ``mqtt`` whether it holds the wildlife MQTT subscription now (only the leader does).
    """
    ping(request.app.state.reports.store.engine)
    leader = getattr(request.app.state, "leader", None)
    subscriber = getattr(request.app.state, "wildlife_mqtt", None)
    return {"status": "ready", "leader": bool(leader and leader.leading),
            "mqtt": bool(subscriber is not None and subscriber.subscribed.is_set())}
