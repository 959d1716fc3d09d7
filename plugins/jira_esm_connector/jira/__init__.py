"""Jira Cloud client, paginators and JQL escaping (no Airflow; the hook is :mod:`jira_esm_connector.hooks.jira`)."""
from __future__ import annotations

from .client import AmbiguousGroupError, JiraClient, SearchPage, group_name, parse_token_expiry
from .jql import jql_list, jql_quote
from .paginators import OffsetArrayPaginator, Paginator, PagingError, StartAtPaginator, TokenPaginator

__all__ = [
    "AmbiguousGroupError",
    "JiraClient",
    "OffsetArrayPaginator",
    "Paginator",
    "PagingError",
    "SearchPage",
    "StartAtPaginator",
    "TokenPaginator",
    "group_name",
    "jql_list",
    "jql_quote",
    "parse_token_expiry",
]
