"""After a registry or routing policy write: tell the fleet now, and route by it here at once."""

from __future__ import annotations

import logging

import anyio
from fastapi import Request

from routelearn.constants import FAN_OUT_REGISTRY_TASK

log = logging.getLogger(__name__)


async def announce(request: Request) -> None:
    """Ask a worker to fan the new changes out now (``routelearn.fan_out_registry`` sends the
    registry's and the policy's outboxes), and route by them in this process at once (the
    other API processes do at their next refresh). The change is committed already: if the
    broker does not take the request, the periodic run sends it, so this only logs."""

    def send() -> None:
        request.app.state.task_sender.send(FAN_OUT_REGISTRY_TASK, [])

    try:
        await anyio.to_thread.run_sync(send)
    except Exception as exc:
        log.warning("fan-out not requested (%s); the periodic run will send it", exc)
    try:
        await anyio.to_thread.run_sync(request.app.state.central.refresh)
    except Exception as exc:  # the periodic refresh tries again
        log.warning("route catalog not refreshed after a write: %s", type(exc).__name__)
