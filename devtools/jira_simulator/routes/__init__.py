"""The REST API (v3 and v2) of the Jira simulator, one module per resource.

Registration order is the order Jira's routes were declared in, which decides which route
a path matches first (``project/search`` before ``project/{projectIdOrKey}``) and the name
an endpoint has in the /_admin/stats counters."""
from __future__ import annotations

from fastapi import FastAPI

from ..base import Api
from . import attachments, comments, groups, issues, links, properties, search, site, users, worklogs


def register_api(app: FastAPI, api: Api) -> None:
    site.register_identity(app, api)
    site.register_projects(app, api)
    site.register_project_edits(app, api)
    search.register_search(app, api)
    search.register_jql_match(app, api)
    issues.register_changelog(app, api)
    issues.register_issues(app, api)
    issues.register_assignee_watchers(app, api)
    attachments.register_attachments(app, api)
    links.register_links(app, api)
    worklogs.register_worklogs(app, api)
    issues.register_transitions(app, api)
    comments.register_comments(app, api)
    properties.register_properties(app, api)
    users.register_users(app, api)
    users.register_user_search(app, api)
    groups.register_groups(app, api)
    groups.register_group_members(app, api)
