"""The local gateway (``make local``) over loopback keep-alive, one route type at a time.

Sequential requests through waitress and the gateway to the functions' workers: how long the
local loop makes tests and curl wait, not a figure about AWS.
"""

from __future__ import annotations

import http.client
import logging
import os
import statistics
import time
from collections.abc import Callable

from devkit.bench import ROOT
from devkit.bench.report import Row, percentile
from devkit.local.serve import LocalStack


def gateway(requests_per_route: int) -> list[Row]:
    # The functions' workers log every decision to stderr; keep the report readable.
    saved_stderr = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        return _gateway(requests_per_route)
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)


def _gateway(requests_per_route: int) -> list[Row]:
    logging.getLogger("authorizer").propagate = True
    stack = LocalStack(ROOT / "template.yaml").start()
    rows = []
    try:
        host, port = "127.0.0.1", stack.api_server.port
        token = stack.dev_issuer.mint(scopes=["read:test"])
        fresh = [stack.dev_issuer.mint(scopes=["read:test"]) for _ in range(requests_per_route)]
        cases: list[tuple[str, str, Callable[[int], str | None]]] = [
            ("public route (/health)", "/health", lambda i: None),
            ("built-in JWT authorizer emulation (/test)", "/test", lambda i: token),
            ("Lambda authorizer, cached answer (/lambda/test)", "/lambda/test", lambda i: token),
            ("Lambda authorizer, new token each request", "/lambda/test", lambda i: fresh[i]),
        ]
        for name, path, token_for in cases:
            rows.append(_route(host, port, name, path, token_for, requests_per_route))
    finally:
        stack.close()
    return rows


def _route(host: str, port: int, name: str, path: str, token_for: Callable[[int], str | None], count: int) -> Row:
    """``count`` requests to ``path`` on one connection; p50, p99 and the rate they ran at."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    samples: list[float] = []
    started = time.perf_counter()
    for i in range(count):
        token = token_for(i)
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        t0 = time.perf_counter_ns()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
        if response.status != 200:
            raise SystemExit(f"bench: {path} answered {response.status}")
    rps = count / (time.perf_counter() - started)
    connection.close()
    p50 = statistics.median(samples)
    goal = "p50 < 5 ms" if "new token" in name else ""
    return Row(f"{name}: {rps:,.0f} req/s", p50, percentile(samples, 0.99), "ms", None, goal, p50 < 5 if goal else None)
