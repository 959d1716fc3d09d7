"""The templates (data card types) of the catalog."""
from __future__ import annotations


from fastapi import FastAPI, Request

from ..core import API_PREFIX, Api


def register_templates(app: FastAPI, api: Api) -> None:
    """dc and dc/{templateCode}."""
    state, catalog, store = api.state, api.state.catalog, api.state.store
    current_user, template_or_404, card_or_404 = api.current_user, api.template_or_404, api.card_or_404
    issue_token, selected_attributes = api.issue_token, api.selected_attributes
    # --- templates ----------------------------------------------------------------------
    @app.get(API_PREFIX + "/dc")
    def list_templates(request: Request) -> list:
        current_user(request)
        return [{"name": t.name, "templateCode": t.code, "url": f"/dc/{t.code}"} for t in catalog.templates.values()]

    @app.get(API_PREFIX + "/dc/{templateCode}")
    def get_template(request: Request, templateCode: str) -> dict:
        current_user(request)
        return template_or_404(templateCode).info(catalog.folders)
