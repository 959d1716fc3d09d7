"""Jira Cloud simulator: a real HTTP(S) server that behaves like Jira Cloud REST v3 (and v2).

Run::

    python -m devtools.jira_simulator --host 127.0.0.1 --port 8443 --seed 42 \\
        [--projects 3 --issues 300 --users 60 --groups 12] --tls-dir .demo [--insecure-http] \\
        --account demo@example.com:demo-token[:Europe/Helsinki] [--account other@x:tok] \\
        [--db PATH] [--latency-ms N] [--rate-limit N]

It prints ``Jira simulator ready at https://127.0.0.1:PORT`` once listening (``--port 0``
picks a free port). HTTPS by default with a local CA from :mod:`devtools.tls` (``ca.pem`` in
``--tls-dir``); plain http only with ``--insecure-http``. Accounts authenticate with HTTP
Basic (e-mail + API token); each has a time zone (default Europe/Helsinki) used to read JQL
dates and to render timestamps. ``--db`` names the SQLite file (default a temporary file);
a file already seeded with the same options is reused, edits included, unless ``--reseed``.
500,000 issues seed in about 20 s (2 shared cores); reusing the file starts in about 1 s.

Jira endpoints (under ``/rest/api/3`` and, with plain-text rich fields, ``/rest/api/2``):
``GET serverInfo`` (anonymous allowed), ``GET myself``, ``GET field``,
``GET|POST search/jql`` (``nextPageToken``/``isLast`` keyset paging; ``fields`` defaults to
id only; up to 5000 per page for id/key-only pages, 100 when fields, expand or properties
are asked for; unbounded JQL is refused with 400), ``POST search/approximate-count``,
``POST jql/match`` (1,000 ids and 100 queries per request; as the search index sees issues),
``POST issue/bulkfetch`` (100 ids, or 1,000 when ``fields`` names only single-value fields;
ids no issue has are left out of the answer, as the contract says),
``POST issue``, ``POST issue/bulk`` (50 at most, refused ones by
position), ``GET|PUT|DELETE issue/{key}``, ``PUT issue/{key}/assignee``,
``GET|POST|DELETE issue/{key}/watchers`` (creating an issue makes you watch it, as Jira's
default autowatch does), ``GET issue/{key}/changelog`` and ``expand=changelog`` (edits made
through the API and the admin API; the seed has no history),
``GET|POST issue/{key}/worklog``, ``GET|PUT|DELETE issue/{key}/worklog/{id}`` (durations in
Jira's "1w 2d 3h 4m" with 8 h days; ``timespent``/``timetracking``/``progress`` follow),
``POST issue/{key}/attachments`` (multipart, ``X-Atlassian-Token: no-check`` or 403),
``GET|DELETE attachment/{id}``, ``GET attachment/content/{id}`` (303 to ``?redirect=false``),
``GET issueLinkType[/{id}]``, ``POST issueLink``, ``GET|DELETE issueLink/{id}`` (an issue's
``issuelinks`` lists the other ends; "A blocks B" is ``inwardIssue`` A, ``outwardIssue`` B),
``GET|POST issue/{key}/transitions``, ``GET|POST issue/{key}/comment``,
``GET|PUT|DELETE issue/{key}/comment/{id}``,
``GET issue/{key}/properties``, ``GET|PUT|DELETE issue/{key}/properties/{propertyKey}``,
``POST|GET|DELETE user`` (a deleted user is removed from the site, not from Atlassian: it
stays listed, inactive, without groups or product access; deleting it again is 404, and
creating a user with its address is 400), ``GET users/search`` (bare array, also ``GET users``),
``GET user/search``, ``GET user/assignable/search``, ``POST|DELETE group``, ``GET group/bulk``,
``GET group/member``, ``POST|DELETE group/user``, ``GET groups/picker``, the deprecated ``GET group``
(``expand=users[start:end]``, 50 members a page); read-only site metadata ``GET project``,
``project/search`` (404 when no project matches, as the contract says), ``project/{key}``
(``/components`` and ``/versions``: none), ``priority``,
``resolution``, ``status``, ``statuscategory``, ``issuetype``. ``GET|POST search`` answers
410 Gone like Jira Cloud. ``/rest/api/latest/...`` is an alias of ``/rest/api/2/...``.
User references by the GDPR-removed ``name``/``username`` find no user (404 on
``group/user``, 400 on ``assignee``), as on Jira Cloud. Issues carry every Jira system field
(components, fixVersions, subtasks, votes, estimates, ...): the ones the
simulator keeps no data for have Jira's empty value and cannot be set or searched.
JSON is served as ``application/json;charset=UTF-8``, as Jira does. Third-party clients
(``jira`` 3.10.5, ``atlassian-python-api`` 5.0.5) are tested against it
(``tests/jira_simulator/test_third_party_clients.py``).
The first 20 comments are embedded in an issue's ``comment`` field (with the full
``total``); page the rest through ``issue/{key}/comment``. Errors always have Jira's shape
``{"errorMessages": [...], "errors": {...}}``. Bodies are read as Jira reads them: an unknown
field of a bean the contract closes (``search/jql``, ``approximate-count``, ``bulkfetch``,
``jql/match``), an array or object where one value belongs, and a transition naming a field in
both ``fields`` and ``update`` are 400.

Admin API (not part of Jira, no authentication; JSON in and out)::

    GET    /_admin/health                      {"status": "ok", "issues": N}
    GET    /_admin/config                      knobs: latency_ms, rate_limit_per_second,
                                               max_results_cap, search_lag_seconds,
                                               bulkfetch_max, bulkfetch_silent,
                                               bulkfetch_missing_errors, project_search_empty_page,
                                               users_listing_max, clock_offset_seconds, faults
    PUT    /_admin/config                      {"latency_ms": 200, "rate_limit_per_second": 5}
                                               (rate limit per account; 0 = off; over the limit:
                                               429 + Retry-After + X-RateLimit-Limit/-Remaining/-Reset)
                                               {"search_lag_seconds": 10}: search/jql and
                                               approximate-count leave out issues created or
                                               changed in the last 10 s (Jira's eventually
                                               consistent index); GET issue/{key} sees them
                                               {"bulkfetch_max": 100}: issue/bulkfetch takes at
                                               most 100 ids whatever the fields (a Jira that does
                                               not grant 1,000; 0 = Jira's rule); more: 400, or with
                                               {"bulkfetch_silent": true} an answer holding only the
                                               first 100 issues, no error for the rest
                                               {"bulkfetch_missing_errors": true}: issue/bulkfetch
                                               answers ids no issue has in issueErrors (the
                                               contract leaves them out of the answer: the default)
                                               {"project_search_empty_page": true}: project/search
                                               answers an empty page when no project matches (the
                                               contract's answer, the default, is 404)
                                               {"users_listing_max": 30}: users/search and /users
                                               list nobody past the 30th user (an empty page: a
                                               user listing that stops early; 0 = everyone)
                                               {"clock_offset_seconds": 3600}: Jira's clock an hour
                                               ahead (serverTime, created/updated, relative JQL
                                               dates); set back to 0, it went back an hour
    POST   /_admin/faults                      inject faults into the next N matching /rest/ calls:
                                               {"type": "status", "status": 503, "count": 3,
                                                "retry_after": 2, "path": "/rest/api/3/search/jql",
                                                "method": "GET"}          -> that status (Jira error body)
                                               {"type": "reset", "count": 1}  -> socket closed (RST), no response
                                               {"type": "slow", "delay_ms": 5000, "count": 1}
                                               {"type": "drop_after", "count": 1}  -> the request is
                                                handled (takes effect), then the socket is closed
                                                (RST) instead of answering
                                               {"type": "empty", "count": 1}  -> the request is
                                                handled, then answered with its items left out (a
                                                bare array, or values / issues / comments), total
                                                and isLast as they were
                                               ("path" is a prefix and "method" a filter, both optional;
                                                "after": N lets the first N matching calls through)
    GET    /_admin/faults                      pending faults;  DELETE /_admin/faults clears them
    GET    /_admin/stats                       {"total": N, "endpoints": {"GET /rest/api/3/search/jql": n},
                                                "responses": {"GET /rest/api/3/search/jql": {"200": n, "429": m}},
                                                "unrouted": {"GET /rest/api/3/nope": 1},  (404/405: no endpoint)
                                                "arrivals_kept": N, "arrivals_dropped": 0}
    GET    /_admin/stats/arrivals              {"arrivals": [epoch seconds, sorted], "dropped": 0}: when
                                               each counted request arrived (before the latency knob;
                                               the first 1,000,000 since the counters were zeroed)
    DELETE /_admin/stats                       zero the counters
    POST   /_admin/reset                       back to the seed; body {"data": true, "knobs": true,
                                               "stats": true} (each defaults to true)
    POST   /_admin/accounts                    {"email", "token", "timeZone", "admin": true|false}
                                               (non-admins get 403 on user/group changes)
    POST   /_admin/issues                      {"project": "SUP", "summary", "description" (text or ADF),
                                                "status", "resolution", "priority", "issuetype",
                                                "assignee"/"reporter" (accountId), "labels": [...],
                                                "created"/"updated"/"resolved" (epoch ms or ISO 8601),
                                                "fields": {"customfield_10016": 3},
                                                "comments": [{"body", "author", "created"}]}
                                               -> {"id", "key", "created", "updated"}
    PATCH  /_admin/issues/{key}                same keys; ``updated`` is set to now unless given;
                                               the change is in the issue's changelog ("author":
                                               accountId, default none)
    DELETE /_admin/issues/{key}
    POST   /_admin/users                       {"email", "displayName", "accountId", "active",
                                                "accountType", "timeZone", "emailVisible"} -> {"accountId"}
    PATCH  /_admin/users/{accountId}           {"email", "displayName", "active", "timeZone", "emailVisible"}
                                               (emailVisible false: the user's profile visibility
                                               hides the address from everyone else)
    DELETE /_admin/users/{accountId}           the account is closed: gone from every answer
    POST   /_admin/groups                      {"name", "groupId"?} -> {"groupId", "name"}
    DELETE /_admin/groups/{groupId}
    PUT    /_admin/groups/{groupId}/members/{accountId}
    DELETE /_admin/groups/{groupId}/members/{accountId}

Design: data lives in SQLite (:mod:`.store`) with an indexed column per JQL-searchable
field; JQL (:mod:`.jql`) compiles to a parameterised WHERE + ORDER BY (id as tie-breaker),
and ``nextPageToken`` is the opaque keyset position (sort values + id), so every page is an
index seek and the last page of a large result costs about what the first one does.
Endpoints live one module per resource in :mod:`.routes` (the /_admin/ API in :mod:`.admin`);
:mod:`.app` assembles them behind the middleware that authenticates and applies the knobs.

Issue properties are stored and served, but JQL does not search them (``issue.property[...]``
is not supported): Jira Cloud only searches properties an installed app declares for
indexing, so the connector's exactly-once lookup searches the event's label and confirms the
property with a GET (``find_issue_for_event`` in events/operations.py) -- the path the
simulator serves.
"""
