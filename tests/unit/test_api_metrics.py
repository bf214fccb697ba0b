"""The request metrics middleware on a small FastAPI app of its own, called through httpx's
ASGI transport: labels are route templates, never raw paths, and every label set is bounded."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from prometheus_client import REGISTRY

from routelearn.api.metrics import UNMATCHED, RequestMetrics


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        if item_id == "missing":
            raise HTTPException(404)
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_middleware(RequestMetrics)
    return app


def send(app: FastAPI, *calls: tuple[str, str]) -> list[int]:
    """Each (method, path) in turn; their status codes."""

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [(await client.request(m, p)).status_code for m, p in calls]

    return asyncio.run(run())


def requests(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("model_router_requests_total", labels) or 0.0


def observed(method: str, route: str) -> float:
    labels = {"method": method, "route": route}
    return REGISTRY.get_sample_value("model_router_request_duration_seconds_count", labels) or 0.0


def test_requests_are_labelled_by_template_method_and_status() -> None:
    before = {
        "ok": requests("GET", "/items/{item_id}", "200"),
        "missing": requests("GET", "/items/{item_id}", "404"),
        "unmatched": requests("GET", UNMATCHED, "404"),
        "not allowed": requests("POST", "/items/{item_id}", "405"),
        "other": requests("other", UNMATCHED, "404"),
        "error": requests("GET", "/boom", "500"),
        "timed": observed("GET", "/items/{item_id}"),
    }
    statuses = send(
        make_app(),
        *[("GET", f"/items/{n}") for n in range(3)],
        ("GET", "/items/missing"),
        ("GET", "/no/such/page/123"),
        ("POST", "/items/1"),
        ("BREW", "/coffee"),
        ("GET", "/boom"),
    )
    assert statuses == [200, 200, 200, 404, 404, 405, 404, 500]
    assert requests("GET", "/items/{item_id}", "200") == before["ok"] + 3
    assert requests("GET", "/items/{item_id}", "404") == before["missing"] + 1
    assert requests("GET", UNMATCHED, "404") == before["unmatched"] + 1
    assert requests("POST", "/items/{item_id}", "405") == before["not allowed"] + 1
    assert requests("other", UNMATCHED, "404") == before["other"] + 1
    assert requests("GET", "/boom", "500") == before["error"] + 1
    assert observed("GET", "/items/{item_id}") == before["timed"] + 4
    assert (
        REGISTRY.get_sample_value(
            "model_router_requests_total", {"method": "GET", "route": "/items/0", "status": "200"}
        )
        is None
    )


@pytest.mark.parametrize("path", ["/items/a", "/items/b%20c"])
def test_no_raw_path_becomes_a_label(path: str) -> None:
    send(make_app(), ("GET", path))
    routes = {
        sample.labels.get("route")
        for family in REGISTRY.collect()
        if family.name == "model_router_requests"
        for sample in family.samples
    }
    assert not any(route and route.startswith("/items/") and "{" not in route for route in routes)
