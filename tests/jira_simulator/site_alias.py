"""Reach the simulator under a Jira Cloud site name (``<site>.atlassian.net``) without DNS.

Some third-party clients switch to their Jira Cloud code path only when the site URL looks
like Jira Cloud (``atlassian-python-api`` sends ``accountId`` to ``group/user`` only when the
URL contains ``atlassian.net``). :class:`SiteAliasAdapter` is the test's ``curl --resolve``:
requests to the alias host go to the simulator's address, the TLS certificate is still
verified (against the simulator's own name, ``localhost``, with the simulator's CA), and the
``Host`` header carries the alias so the simulator renders links under the alias.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

ALIAS_HOST = "simulated-site.atlassian.net"


class SiteAliasAdapter(HTTPAdapter):
    def __init__(self, alias_host: str, target_url: str, cert_name: str = "localhost") -> None:
        super().__init__(max_retries=0)
        target = urlsplit(target_url)
        self.alias_host = alias_host.lower()
        self.target_host = target.hostname or "127.0.0.1"
        self.target_port = target.port or 443
        self.cert_name = cert_name

    def _is_alias(self, url: str) -> bool:
        return (urlsplit(url).hostname or "").lower() == self.alias_host

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if self._is_alias(request.url):
            host_params = {**host_params, "host": self.target_host, "port": self.target_port}
            # SNI and hostname check against the name the simulator's certificate carries
            pool_kwargs = {**pool_kwargs, "server_hostname": self.cert_name, "assert_hostname": self.cert_name}
        return host_params, pool_kwargs

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if self._is_alias(request.url):
            request.headers["Host"] = self.alias_host
        return super().send(request, *args, **kwargs)


def aliased_session(target_url: str, ca_pem: str, alias_host: str = ALIAS_HOST) -> requests.Session:
    """A session whose ``https://<alias_host>`` requests reach the simulator at ``target_url``."""
    s = requests.Session()
    s.trust_env = False  # neither a proxy nor REQUESTS_CA_BUNDLE from the environment
    s.verify = ca_pem
    s.mount(f"https://{alias_host}", SiteAliasAdapter(alias_host, target_url))
    return s
