"""Logging in (JWT) and the echo endpoints."""
from __future__ import annotations


from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..core import API_PREFIX, Api, ApiError, _ts, api_exception


def register_auth(app: FastAPI, api: Api) -> None:
    """users/login, echo and echo/jwt."""
    state, catalog, store = api.state, api.state.catalog, api.state.store
    current_user, template_or_404, card_or_404 = api.current_user, api.template_or_404, api.card_or_404
    issue_token, selected_attributes = api.issue_token, api.selected_attributes
    # --- login / echo -------------------------------------------------------------------
    @app.post(API_PREFIX + "/users/login")
    async def login(request: Request) -> JSONResponse:
        ctype = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" not in ctype and "multipart/form-data" not in ctype:
            raise ApiError(400, "Login expects a form (application/x-www-form-urlencoded) with 'login' and 'password'")
        form = await request.form()
        user, password = form.get("login"), form.get("password")
        if not user or password is None:
            raise ApiError(400, "Login form needs both 'login' and 'password'")
        if state.users.get(str(user)) != str(password):
            return api_exception(401, "Wrong credentials provided.", str(request.url))
        token, ttl = issue_token(str(user))
        body = {"code": 200, "message": "Authenticated", "timestamp": _ts(), "token": f"Bearer {token}"}
        return JSONResponse(body, headers={"Authorization": f"Bearer {token}", "X-Token-Expires-In": str(ttl)})

    @app.get(API_PREFIX + "/echo")
    async def echo(message: str | None = None) -> dict:
        return {"code": 200, "message": message or "", "timestamp": _ts()}

    @app.get(API_PREFIX + "/echo/jwt")
    def echo_jwt(request: Request, message: str | None = None) -> dict:
        current_user(request)
        return {"code": 200, "message": message or "", "timestamp": _ts()}
