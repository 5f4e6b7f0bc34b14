"""What ``make local`` saw, counted as the stack's dashboard counts it on AWS.

The same facts from the same places: responses by route and status class (the access log), the
Lambda authorizer's decisions by ``decision`` and ``reason`` and its failed key refreshes (its
own log lines, read from the function workers' output as CloudWatch would receive them), and
the built-in JWT authorizer's refusals. ``make local`` prints the summary when it stops, so a
session shows locally what the dashboard (docs/observability.md) will show.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

# The metric filters' matches (template.yaml, tests/functional/test_metric_filters.py).
_REFRESH_FAILED = "jwks refresh failed"


class Tally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.responses: Counter[tuple[str, str]] = Counter()  # (route key or "-", "2xx"...)
        self.decisions: Counter[tuple[str, str]] = Counter()  # (allow/deny, reason)
        self.refresh_failures = 0
        self.builtin_refusals = 0

    def response(self, route_key: str | None, status: int, builtin_refusal: bool = False) -> None:
        """One answer of the API, as its access log line would have it."""
        with self._lock:
            self.responses[(route_key or "-", f"{status // 100}xx")] += 1
            self.builtin_refusals += builtin_refusal

    def log_line(self, line: bytes) -> None:
        """One line a function wrote; the Lambda authorizer's decision and key lines are counted."""
        if not line.startswith(b"{"):
            return
        try:
            record = json.loads(line)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        message = record.get("message")
        logger = record.get("logger")
        with self._lock:
            if logger == "authorizer" and isinstance(message, dict) and "decision" in message:
                self.decisions[(str(message["decision"]), str(message.get("reason")))] += 1
            elif logger == "authorizer.jwks" and isinstance(message, str) and message.startswith(_REFRESH_FAILED):
                self.refresh_failures += 1

    def summary(self) -> str:
        """The session's counts, a few lines; empty when nothing was asked of the API."""
        with self._lock:
            if not self.responses:
                return ""
            routes: dict[str, list[str]] = {}
            for (route, status), count in sorted(self.responses.items()):
                routes.setdefault(route, []).append(f"{status} {count}")
            lines = ["this session, as the dashboard counts it (docs/observability.md):"]
            lines.append("  responses: " + "; ".join(f"{route} {', '.join(c)}" for route, c in routes.items()))
            if self.decisions:
                counted = ", ".join(f"{d} {r} {n}" for (d, r), n in sorted(self.decisions.items()))
                lines.append(f"  Lambda authorizer decisions: {counted}")
            lines.append(f"  built-in JWT authorizer refusals: {self.builtin_refusals}")
            lines.append(f"  failed key refreshes: {self.refresh_failures}")
            return "\n".join(lines)
