"""Efecte ESM REST API v1 simulator (dev tool; not shipped with the connector).

A real HTTP(S) server implementing ``/work/shared/esm-openapi/efecte-esm-rest-v1.openapi.json``
under ``/rest-api/itsm/v1``, backed by SQLite (SQLAlchemy Core) so data survives a restart.

Run::

    python -m devtools.esm_simulator --host 127.0.0.1 --port 8444 --db .demo/esm.sqlite \\
        --tls-dir .demo --user demo:demo [--insecure-http] [--seed 42 --persons N --groups N \\
        --incidents N] [--parent-pid PID] [--token-ttl SECONDS] [--latency SECONDS] [--rate-limit PER_SECOND] \\
        [--inject-errors N:STATUS] [--inject-resets N] [--templates FILE]

It prints ``ESM simulator ready at https://127.0.0.1:PORT/rest-api/itsm/v1`` once listening
(``--port 0`` picks a free port; the line tells which). HTTPS uses ``devtools.tls``
(``ca.pem`` in ``--tls-dir`` is the CA to trust); ``--insecure-http`` serves plain http.
Seeding happens only when the database has no cards yet, so a restart keeps the data;
``--seed`` alone seeds a demo-sized set (60 persons, 12 groups, 250 incidents), explicit
counts seed exactly those, and without either the database starts empty. ``--parent-pid``
stops the server when that process is gone.

Endpoints (shapes as in the OpenAPI document):

- ``POST /users/login`` form ``login`` + ``password`` -> ``ApiResponse`` whose ``token`` is
  ``"Bearer <JWT>"``; the same value is in the ``Authorization`` response header, and
  ``X-Token-Expires-In`` gives the lifetime in seconds (default 3600, ``--token-ttl``).
  Wrong credentials -> 401; a missing/expired/invalid token on any other endpoint -> 401
  ``ApiException`` (message says "expired" or "invalid"). The header may be
  ``Authorization: Bearer <JWT>`` or the bare JWT. The signing secret is kept in the
  database, so tokens stay valid across a restart.
- ``GET /echo``, ``GET /echo/jwt`` (``message`` echoed in ``ApiResponse.message``).
- ``GET /dc`` (``[{name, templateCode, url}]``), ``GET /dc/{template}`` (``RESTTemplateInfo``;
  attribute ``type`` is one of string, number, date, datetime, static-value, reference,
  worklog, external-reference; static values in ``values``; reference targets in ``target``).
- ``GET /dc/{template}/data``: ``limit`` 1-200 required (else 400); ``filterId`` returns
  only cards with a lower id; pages are in descending id order; ``meta`` is
  ``{count, limit, links: {self, next}}`` and ``next`` (absolute URL, same parameters,
  ``filterId`` = last id of the page) is present only when more cards follow. Cards
  created while paging get higher ids and so never show up twice. ``dataCards=true``
  returns full ``RESTDataCard`` objects, otherwise info elements ``{dataCardId, name,
  url}``; ``selectedAttributes`` (comma-separated; unknown names -> 400) limits the
  attributes and implies full cards. Trashed cards are not listed.
- ``filter``: the EQL subset documented in ``devtools.esm_simulator.eql`` (``=``, ``<>``,
  ``>``/``<``/``>=``/``<=`` on dates and numbers, ``in (...)``, ``and``/``or``/``not``,
  parentheses; references compare by the referenced card's name or id; relative dates
  like ``'now - 2w'``; invalid EQL -> 400 naming the position and the problem).
- ``GET /dc/{template}/data/stream``: every matching card in one streamed
  ``{"data": [...], "meta": {"count": N}}`` document (same ``filter``/``dataCards``/
  ``selectedAttributes``).
- ``PUT /dc/{template}/data`` (bulk, synchronous): a JSON array; a card with
  ``dataCardId`` modifies that card, one without creates a card (``folderCode``
  required). Each card is checked on its own and saved or refused as a whole; refusal
  reasons: unknown attribute, unknown static value (by ``value``, or by ``code`` when no
  value is given), missing/unknown/disallowed folder, dangling / trashed / wrong-template
  reference, bad date or number, several values for a single-value attribute, unknown or
  trashed ``dataCardId``. Response ``RESTDataCardListResponse``: ``data`` has one entry per
  input card **in input order**: ``{dataCard: {dataCardId, name, url}}`` when saved,
  ``{errors: [RESTError...]}`` (plus ``dataCard`` for a refused modify) when refused;
  ``meta.importResult`` has handled/saved/notSaved counts. Saved cards are committed in
  one transaction. At most 10,000 cards per request.
- ``POST /dc/{template}/data`` (201 ``{meta, dataCard: {dataCardId}}``, with ``dataCards=true``
  the whole stored card in ``dataCard``, likewise for PATCH; refusals -> 400
  with every reason in ``message``), ``GET`` / ``PATCH`` / ``DELETE /dc/{template}/data/{id}``
  (PATCH changes only the attributes given; DELETE moves to the trash can, 409 when the card
  already is there; a trashed card still answers GET with ``deleted: true`` but refuses edits).
- ``GET/PUT/POST/DELETE /dc/{template}/data/{id}/{attribute}``: read the element, replace
  the values, add values (multi-value: appended, reference lists stay duplicate-free;
  single-value: only when empty, else 400), clear. ``createEmptyReferences`` is ignored.

Values: ``{"value": ...}`` for string/number/date (``YYYY-MM-DD`` or ``DD.MM.YYYY``) and
datetime (stored and returned as UTC ``YYYY-MM-DDTHH:MM:SSZ``; input may carry an offset;
naive input is UTC; datetimes are returned with element type ``date`` as the OpenAPI enum
has no ``datetime``); static values ``{"value", "code"}``; references ``{"dataCardId"}``
(returned with name, template, url, deleted, hidden); external references ``{"name",
"location"}``. **Worklogs are append-only** as in Efecte: every write of worklog values
(bulk, PATCH, attribute PUT or POST) adds entries stamped with the logged-in user as
``author`` and the current time as ``date``; they are returned newest first; attribute
DELETE empties the worklog.

Scale (measured on the shared 2-core dev VM, 500,000 incidents + 1,000 persons + 100 groups,
an 830 MB database; ``--incidents 500000`` seeds at about 9,000 cards/s): a page of 200 info
elements 3 ms at the top or deep down, 200 full cards 6 ms, an EQL key lookup 1.5 ms, a page
of ``$status$ = '01 - New'`` 3 ms, of a date range 6 ms; bulk ``PUT`` of 200 new cards 25 ms,
200 modifications 40 ms; streaming all 500,000 info elements about 8 s. The slowest case is a
filter matching many cards that all sit far below the newest ids (about 200 ms a page).

Admin API (no auth, JSON bodies; only API paths under /rest-api are affected by knobs):

- ``GET /_admin/health``, ``GET /_admin/config`` (knobs, users, templates)
- ``GET /_admin/stats`` -> ``{requests: {"GET /rest-api/itsm/v1/dc/{templateCode}/data": n,
  ..., "injected error": n, "injected connection reset": n, "rate limited": n}, statuses:
  {"200": n}, cards: {template: {active, trash}}}``; ``POST /_admin/stats/reset``
- ``POST /_admin/latency {"seconds": 0.2}`` (added to every API request; also ``--latency``)
- ``POST /_admin/errors {"count": N, "status": 503, "path_contains": "/dc/"}``: the next N
  matching API requests answer that status (ApiException body; 429/503 with Retry-After: 1)
- ``POST /_admin/ratelimit {"per_second": 5}``: token bucket (burst ``max(1, per_second)``,
  refilled at ``per_second``; fractions allowed, 0.2 = one request per 5 s); a request
  without a token answers 429 (ApiException, ``Retry-After`` = seconds until the next
  token); 0 turns it off
- ``POST /_admin/resets {"count": N, "path_contains": ""}``: the next N matching API
  requests have their TCP connection reset before any response byte
- ``POST /_admin/paging {"filter_in_window": true}``: a filtered ``GET .../data`` page holds
  the matching cards among the next ``limit`` cards of the template -- fewer than asked, or
  none -- and ``next`` (``filterId`` = the last card of that window) goes on while cards
  follow; the contract allows it, an ESM filtering each keyset window answers so
- ``POST /_admin/trash {"list_trashed": true}``: listings (``GET .../data``, with or without
  ``filter``, and ``data/stream``) include the cards in the trash can too, as whole cards
  with ``deleted: true`` (as a read by id shows them; an info element has no such field in
  the contract, so a trashed one looks like any other); the contract does not say whether a
  real ESM lists them. Off by default: trashed cards answer a read by id only
- ``POST /_admin/forbidden {"folders": ["incident_archive"], "attributes": ["incident.worklog"],
  "templates": ["person"]}``: the user may not update cards in those folders, nor those
  attributes, nor any card of those templates (its role lost): each write touching one
  (create, PATCH, DELETE, attribute PUT/POST/DELETE) answers 403 as documented, and so does
  a bulk ``PUT`` holding one, as a whole (nothing saved); reads still work; ``{}`` lifts it
- ``POST /_admin/tokens/expire`` (every token issued so far is now expired);
  ``POST /_admin/tokens/ttl {"seconds": N}`` (lifetime of tokens issued from now on)
- ``POST /_admin/reset {"wipe": true}``: knobs back to start-up values (tokens expired on
  demand stay expired, injected errors/resets are not re-armed), stats cleared, with
  ``wipe`` all cards deleted (ids keep increasing); ``POST /_admin/wipe``
- ``POST /_admin/seed {"seed": 42, "persons": N, "groups": N, "incidents": N}``
- ``GET /_admin/cards?template=&limit=&offset=``, ``GET /_admin/cards/{id}``: stored form
  (``{id, template, folder, name, deleted, data, created_at, updated_at}``)

Layout: :mod:`.app` assembles the FastAPI app behind the knobs middleware; :mod:`.core` holds
the state, knobs, errors and the checks every endpoint makes; :mod:`.routes` has one module per
resource (login/echo, templates, reading cards, writing cards, attributes); :mod:`.admin` the
/_admin/ API.
"""
from __future__ import annotations

from .app import API_PREFIX, Knobs, SimState, create_app
from .store import Store
from .templates import DEFAULT_TEMPLATES_FILE, load_catalog

__all__ = ["API_PREFIX", "Knobs", "SimState", "Store", "create_app", "load_catalog", "DEFAULT_TEMPLATES_FILE"]
