"""Jira Cloud client, paginators, JQL escaping and the Airflow hook (``jira.hook``, imported lazily)."""
from __future__ import annotations

from .client import JiraClient, SearchPage, parse_token_expiry
from .jql import jql_list, jql_quote
from .paginators import OffsetArrayPaginator, Paginator, PagingError, StartAtPaginator, TokenPaginator

__all__ = [
    "JiraClient",
    "OffsetArrayPaginator",
    "Paginator",
    "PagingError",
    "SearchPage",
    "StartAtPaginator",
    "TokenPaginator",
    "jql_list",
    "jql_quote",
    "parse_token_expiry",
]
