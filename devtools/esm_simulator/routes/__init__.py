"""The REST API of the ESM simulator under /rest-api/itsm/v1, one module per resource.

Registration order decides which route a path matches first (``data/stream`` before
``data/{dataCardId}``)."""
from __future__ import annotations

from fastapi import FastAPI

from ..core import Api
from . import attributes, auth, catalog, read, write


def register_api(app: FastAPI, api: Api) -> None:
    auth.register_auth(app, api)
    catalog.register_templates(app, api)
    read.register_reads(app, api)
    write.register_writes(app, api)
    attributes.register_attributes(app, api)
