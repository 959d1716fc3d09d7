"""Admin API under /_admin/ (no authentication: a local dev tool). See the package docstring."""
from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from fastapi import FastAPI, Request

from .core import ApiError, SimState
from .seed import seed
from .store import CardRow



async def admin_body(request: Request) -> dict:
    """The JSON object of an admin request ({} when empty); 400 otherwise."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError(400, "Invalid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Expected a JSON object")
    return data


def register_admin(app: FastAPI, state: Any) -> None:
    """The whole /_admin/ API."""
    _register_admin_status(app, state)
    _register_admin_knobs(app, state)
    _register_admin_data(app, state)
    _register_admin_cards(app, state)


def _register_admin_status(app: FastAPI, state: SimState) -> None:
    """health, config and the request statistics."""
    @app.get("/_admin/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/_admin/config")
    def config() -> dict:
        return {"knobs": state.knobs.as_dict(), "users": sorted(state.users),
                "templates": sorted(state.catalog.templates)}

    @app.get("/_admin/stats")
    def stats() -> dict:
        with state.lock:
            requests = dict(state.stats)
            statuses = {str(k): v for k, v in state.statuses.items()}
        return {"requests": requests, "statuses": statuses, "cards": state.store.counts()}

    @app.post("/_admin/stats/reset")
    def stats_reset() -> dict:
        with state.lock:
            state.stats.clear()
            state.statuses.clear()
        return {"status": "ok"}


def _register_admin_knobs(app: FastAPI, state: SimState) -> None:
    """Latency, rate limit, injected errors and connection resets, token expiry."""
    @app.post("/_admin/latency")
    async def latency(request: Request) -> dict:
        data = await admin_body(request)
        seconds = float(data.get("seconds", data.get("ms", 0) / 1000 if "ms" in data else 0))
        if seconds < 0:
            raise ApiError(400, "latency must be >= 0")
        state.knobs.latency = seconds
        return state.knobs.as_dict()

    @app.post("/_admin/ratelimit")
    async def ratelimit(request: Request) -> dict:
        data = await admin_body(request)
        per_second = float(data.get("per_second", 0))
        if per_second < 0:
            raise ApiError(400, "per_second must be >= 0 (0 turns the limit off)")
        with state.lock:
            state.knobs.rate_limit = per_second
            state.bucket_at = 0.0  # start with a full bucket
        return state.knobs.as_dict()

    @app.post("/_admin/errors")
    async def errors(request: Request) -> dict:
        data = await admin_body(request)
        status = int(data.get("status", 503))
        if not 400 <= status <= 599:
            raise ApiError(400, "status must be 400-599")
        with state.lock:
            state.knobs.error_count = int(data.get("count", 1))
            state.knobs.error_status = status
            state.knobs.error_path = str(data.get("path_contains", ""))
        return state.knobs.as_dict()

    @app.post("/_admin/resets")
    async def resets(request: Request) -> dict:
        data = await admin_body(request)
        with state.lock:
            state.knobs.reset_count = int(data.get("count", 1))
            state.knobs.reset_path = str(data.get("path_contains", ""))
        return state.knobs.as_dict()

    @app.post("/_admin/paging")
    async def paging(request: Request) -> dict:
        data = await admin_body(request)
        state.knobs.filter_in_window = bool(data.get("filter_in_window", False))
        return state.knobs.as_dict()

    @app.post("/_admin/trash")
    async def trash(request: Request) -> dict:
        data = await admin_body(request)
        state.knobs.list_trashed = bool(data.get("list_trashed", False))
        return state.knobs.as_dict()

    @app.post("/_admin/forbidden")
    async def forbidden(request: Request) -> dict:
        data = await admin_body(request)
        state.knobs.read_only_folders = tuple(str(f) for f in data.get("folders") or [])
        state.knobs.read_only_attributes = tuple(str(a) for a in data.get("attributes") or [])
        state.knobs.read_only_templates = tuple(str(t) for t in data.get("templates") or [])
        return state.knobs.as_dict()

    @app.post("/_admin/tokens/expire")
    def expire_tokens() -> dict:
        with state.lock:
            state.knobs.tokens_expired_through = state.tokens_issued  # every token issued so far
        return state.knobs.as_dict()

    @app.post("/_admin/tokens/ttl")
    async def token_ttl(request: Request) -> dict:
        data = await admin_body(request)
        seconds = int(data.get("seconds", 0))
        if seconds < 1:
            raise ApiError(400, "seconds must be >= 1")
        state.knobs.token_ttl = seconds
        return state.knobs.as_dict()


def _register_admin_data(app: FastAPI, state: SimState) -> None:
    """Reset, wipe and seed."""
    @app.post("/_admin/reset")
    async def reset(request: Request) -> dict:
        data = await admin_body(request)
        # tokens expired on demand stay expired
        state.knobs = dataclasses.replace(state.start_knobs, tokens_expired_through=state.knobs.tokens_expired_through)
        with state.lock:
            state.stats.clear()
            state.statuses.clear()
        if data.get("wipe", False):
            state.store.wipe()
        return {"status": "ok", "knobs": state.knobs.as_dict(), "cards": state.store.counts()}

    @app.post("/_admin/wipe")
    def wipe() -> dict:
        state.store.wipe()
        return {"status": "ok"}

    @app.post("/_admin/seed")
    async def seed_route(request: Request) -> dict:
        data = await admin_body(request)
        result = await asyncio.to_thread(
            seed, state.store, state.catalog, seed_value=int(data.get("seed", 42)),
            persons=int(data.get("persons", 0)), groups=int(data.get("groups", 0)),
            incidents=int(data.get("incidents", 0)))
        return result


def _register_admin_cards(app: FastAPI, state: SimState) -> None:
    """The stored cards as they are (no rendering)."""
    def raw(row: CardRow) -> dict[str, Any]:
        return row.as_dict()

    @app.get("/_admin/cards")
    def list_cards(template: str | None = None, limit: int = 100, offset: int = 0) -> dict:
        rows = state.store.list_raw(template, max(1, min(limit, 10_000)), max(0, offset))
        return {"cards": [raw(r) for r in rows]}

    @app.get("/_admin/cards/{card_id}")
    def get_card(card_id: int) -> dict:
        row = state.store.get(card_id)
        if row is None:
            raise ApiError(404, f"No card {card_id}")
        return raw(row)
