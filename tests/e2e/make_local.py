"""``make local`` as a user runs it: a subprocess whose banner is read, its curl lines replayed.

The process runs in a session of its own, so Ctrl-C (SIGINT to its process group) reaches make,
the Python server and its function workers alike, as it does in a terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from tests.e2e.conftest import http
from tests.support import ROOT

START_SECONDS = 60.0


@dataclass
class Running:
    banner: str
    process: subprocess.Popen[str]
    stderr: list[str] = field(default_factory=list)
    after: str = ""  # what it printed after the banner, by the time it ended

    @property
    def api_url(self) -> str:
        found = re.search(r"^local API  (http://\S+)", self.banner, re.MULTILINE)
        assert found, self.banner
        return found.group(1)

    @property
    def ports(self) -> tuple[int, int]:
        """The API's and the dev issuer's ports, as the banner names them (both were chosen at start)."""
        issuer = re.search(r"^dev issuer (http://\S+)", self.banner, re.MULTILINE)
        assert issuer, self.banner
        api_port, issuer_port = urlsplit(self.api_url).port, urlsplit(issuer.group(1)).port
        assert api_port and issuer_port, self.banner
        return api_port, issuer_port

    def log_lines_until(self, predicate, seconds: float = 30.0) -> list[str]:
        """The worker and server log lines seen so far, once one meets ``predicate`` (or the deadline)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(predicate(line) for line in list(self.stderr)):
                break
            time.sleep(0.05)
        return list(self.stderr)


def make_env(**extra: str) -> dict[str, str]:
    """The developer's environment without anything that would choose make local's issuer for it."""
    names = ("ISSUER", "AUDIENCE", "PARAMS", "SSL_CERT_FILE", "SSL_CERT_DIR", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")
    return {**{k: v for k, v in os.environ.items() if k not in names}, **extra}


@contextmanager
def make_local(
    *args: str,
    env: dict[str, str] | None = None,
    stop: int = signal.SIGINT,
    sigint_ignored: bool = False,
    project: Path = ROOT,
    stops: int = 1,
) -> Iterator[Running]:
    """``make -s local API_PORT=0 ISSUER_PORT=0 ARGS...`` in ``project`` until its banner's last
    line, then Ctrl-C (``stop``: the signal its process group gets instead; ``sigint_ignored``:
    started as a script's background job is, with SIGINT ignored; ``stops``: how many times it is
    sent, back to back)."""
    process = subprocess.Popen(
        ["make", "-s", "local", "API_PORT=0", "ISSUER_PORT=0", *args],
        cwd=project,
        env=env if env is not None else make_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None,
    )
    assert process.stdout is not None and process.stderr is not None
    running = Running("", process)
    # The workers' log lines go to stderr; read them all the time, or a full pipe stalls them.
    drain = threading.Thread(target=_drain, args=(process.stderr, running.stderr), daemon=True)
    drain.start()
    try:
        running.banner = _banner(process)
        yield running
    finally:
        with contextlib.suppress(ProcessLookupError):
            for _ in range(stops):
                os.killpg(process.pid, stop)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        drain.join(10)
        running.after = process.stdout.read()
        process.stdout.close()


def _drain(pipe: IO[str], into: list[str]) -> None:
    for line in pipe:
        into.append(line)


def _banner(process: subprocess.Popen[str]) -> str:
    """Its stdout up to the banner's last line."""
    text = read_until(process, lambda text: b"\nCtrl-C stops." in text, START_SECONDS, "make local's banner")
    return text.decode()


def read_until(process: subprocess.Popen[Any], done: Callable[[bytes], bool], seconds: float, what: str) -> bytes:
    """A process's stdout until ``done`` says it holds enough, read from the descriptor itself (a
    buffered readline would hide lines already read from select); fails naming ``what``."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    text = b""
    deadline = time.monotonic() + seconds
    while not done(text):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no {what} within {seconds:.0f} s:\n{text.decode()}")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise AssertionError(f"the process exited ({process.wait()}) before its {what}:\n{text.decode()}")
        text += chunk
    return text


@dataclass
class CurlLine:
    line: str
    url: str
    token: str | None
    promised: int


_CURL = re.compile(r'^curl -i (?:-H "Authorization: Bearer \$(\w+)" )?(\S+)\s+# (\d{3})\b')


def curl_lines(banner: str, tokens: dict[str, str]) -> list[CurlLine]:
    """Each curl line of a banner, its ``$NAME`` taken from ``tokens`` or the banner's NAME="..." lines."""
    variables = dict(re.findall(r'^(\w+)="([^"$]+)"$', banner, re.MULTILINE)) | tokens
    found = []
    for line in banner.splitlines():
        matched = _CURL.match(line)
        if matched:
            name, url, status = matched.groups()
            found.append(CurlLine(line, url, variables[name] if name else None, int(status)))
    return found


def replay(banner: str, **tokens: str) -> list[tuple[str, int, int]]:
    """Every curl line's (line, promised status, status got), sent over real HTTP."""
    return [(c.line, c.promised, http(c.url, c.token).status) for c in curl_lines(banner, tokens)]
