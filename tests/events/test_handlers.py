"""Dispatch: each operation's spec names its handler in events/handlers.py, and only those."""
from __future__ import annotations

import inspect

from jira_esm_connector.config import OPERATION_SPECS
from jira_esm_connector.events import handlers


def test_every_operation_has_its_handler_and_every_handler_an_operation():
    named = {spec.handler for spec in OPERATION_SPECS.values()}
    for operation in OPERATION_SPECS:
        fn = handlers.handler_for(operation)
        assert inspect.isfunction(fn) and fn.__module__ == handlers.__name__
        assert list(inspect.signature(fn).parameters) == ["act"]
    public = {
        name for name, fn in vars(handlers).items()
        if inspect.isfunction(fn) and fn.__module__ == handlers.__name__ and not name.startswith("_")
    }
    assert public - {"handler_for"} == named
