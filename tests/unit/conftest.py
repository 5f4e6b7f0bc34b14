"""The unit tier is pure: no sockets, no processes, no installs. A test that needs one is elsewhere.

For every test here, its fixtures' set-up included (a session server started for it is caught
too), opening or binding a socket and starting a process fail with ``ImpureTest``. The tiers and
what each may do: docs/testing.md.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest


class ImpureTest(AssertionError):
    """A unit test reached for the network or a process."""


def _refusal(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ImpureTest(f"a unit test may not {what}: it belongs in tests/functional (docs/testing.md)")

    return refuse


# What a unit test may not reach: the network (either end of a connection) and new processes.
GUARDED: tuple[tuple[Any, str, str], ...] = (
    (socket.socket, "connect", "open a connection"),
    (socket.socket, "connect_ex", "open a connection"),
    (socket.socket, "bind", "listen on a socket"),
    (socket, "create_connection", "open a connection"),
    (subprocess.Popen, "__init__", "start a process"),
    (os, "system", "start a process"),
    (os, "posix_spawn", "start a process"),
    (os, "fork", "start a process"),
)


@contextlib.contextmanager
def pure() -> Iterator[None]:
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in GUARDED]
    try:
        for owner, name, what in GUARDED:
            setattr(owner, name, _refusal(what))
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    with pure():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    with pure():
        return (yield)
