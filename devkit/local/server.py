"""The local loop's one HTTP/1.1 server: a WSGI app on waitress, in a background thread.

http.server frames requests loosely (a bad or negative Content-Length, chunked bodies,
conflicting lengths); waitress's parser is maintained and hardened against request
smuggling, so both the gateway and the dev issuer run on it. Its parser is made stricter
still where RFC 9112 allows or asks: Content-Length beside Transfer-Encoding, a bare CR or LF
in a head or a chunk line, an HTTP/1.1 request without exactly one valid Host are 400 and close. Its own
error answers are text/plain pages; here they are API Gateway's JSON ``{"message": ...}``
with its statuses.

Idle connections cannot starve it: it holds up to ``CONNECTION_LIMIT`` connections (raising the
process's open-file limit to match where it may), and a connection whose request head has not
arrived in full within ``HEAD_TIMEOUT`` is closed, as nginx's ``client_header_timeout`` does.
"""

from __future__ import annotations

import contextlib
import json
import re
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, Self

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.receiver import ChunkedReceiver
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import (
    BadRequest,
    InternalServerError,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    ServerNotImplemented,
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# API Gateway HTTP API quotas (not adjustable): "total combined size of request line and
# header values" 10240 bytes, payload 10 MB.
MAX_HEAD_BYTES = 10240
MAX_BODY_BYTES = 10 * 1024 * 1024
IDLE_TIMEOUT = 120  # seconds; waitress's default, and what make local uses
# Seconds a request head may take to arrive in full, counted from its first byte (from the
# connection's start for its first request): a head never finished would otherwise hold its
# connection for the whole idle timeout.
HEAD_TIMEOUT = 10.0
# waitress's default of 100 connections is filled by 100 idle clients, and everyone else waits
# for the idle timeout. Far above what one developer's browser and tests open; poll() (not
# select()) serves any number of descriptors.
CONNECTION_LIMIT = 1000
# Descriptors a process needs besides its connections: listening sockets, wake-up pipes, the
# function workers' pipes, files.
OTHER_DESCRIPTORS = 256
# How often (seconds) the loop looks for connections past a timeout; a timeout can take
# this much longer than its figure to bite.
MAINTENANCE_INTERVAL = 1

TOO_LARGE = (413, "Request Entity Too Large")
_BARE_CR_OR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")
# RFC 9110 section 7.2's Host: uri-host [":" port] (RFC 3986: a reg-name, IPv4 or [IP literal]),
# empty when the target has no authority.
_HOST = re.compile(r"(?:[A-Za-z0-9\-._~%!$&'()*+,;=]*|\[[0-9A-Fa-f:.vV\-._~!$&'()*+,;=]+\])(?::[0-9]*)?")
# Keyed by exact class: the size errors subclass BadRequest but get API Gateway's 413.
_WAITRESS_ERRORS: dict[type[Any], tuple[int, str]] = {
    BadRequest: (400, "Bad Request"),
    RequestHeaderFieldsTooLarge: TOO_LARGE,  # API Gateway counts the request line and headers as one
    RequestEntityTooLarge: TOO_LARGE,
    ServerNotImplemented: (501, "Not Implemented"),
    InternalServerError: (500, "Internal Server Error"),
}


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def json_error(error: Any) -> tuple[int, str]:
    """API Gateway's status and message for one of waitress's request errors."""
    known = _WAITRESS_ERRORS.get(type(error))
    if known is not None:
        return known
    status = int(getattr(error, "code", 500))
    return status, reason(status)


def respond(
    environ: dict[str, Any],
    start_response: Callable[..., Any],
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
) -> list[bytes]:
    """Start a WSGI response with its Content-Length; a HEAD answer carries the length, no body."""
    start_response(f"{status} {reason(status)}", [*headers, ("Content-Length", str(len(body)))])
    # waitress decides "has a body" from the status alone and would send one after HEAD.
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]


class _JsonErrorTask(ErrorTask):
    """waitress's answer to a request it cannot frame, as JSON instead of a text page."""

    def execute(self) -> None:
        status, message = json_error(self.request.error)
        body = json.dumps({"message": message}).encode()
        self.status = f"{status} {reason(status)}"
        # A head too large to parse is answered as HTTP/1.0; API Gateway speaks HTTP/1.1 throughout.
        self.version = "1.1"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()  # the stream can no longer be trusted to be in step
        self.content_length = len(body)
        self.write(body)


class _Parser(HTTPRequestParser):
    """One request as waitress frames it, made when the first bytes of its head arrive.

    Stricter than waitress where RFC 9112 lets or tells a server refuse what waitress lets through, so
    that nothing a client sends can frame two ways: each refusal is a 400 and a close.
    """

    completed: bool  # waitress's flag (class default False): the request is framed, or refused
    body_rcv: Any  # waitress's body decoder (class default None until the head is parsed)

    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.started = time.monotonic()

    def received(self, data: bytes) -> int:
        # waitress ends a head at CRLF CRLF only, so a head with bare LFs waited for the idle
        # timeout, and a bare CR was refused only once a CRLF CRLF came. RFC 9112 section 2.2
        # makes a bare CR invalid and reading a bare LF as a line end optional: both are a 400
        # at once. A CRLF split between two reads is no bare anything.
        if self.body_rcv is None and not self.completed and _bare_cr_or_lf(self.header_plus, data):
            self.parse_header(b"GET / HTTP/1.0\r\n")  # what an error answer reads, as waitress does
            self.error = BadRequest("a CR or LF outside a CRLF in the request head")
            self.completed = True
            return len(data)
        return int(super().received(data))

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        # RFC 9112 section 6.1: a request with both "ought to be handled as an error"; waitress
        # lets chunking win and keeps the connection, the smuggler's favourite (CL.TE) shape.
        if self.chunked and "CONTENT_LENGTH" in self.headers:
            raise ParsingError("Content-Length and Transfer-Encoding together")
        # RFC 9112 section 6.1: Transfer-Encoding in HTTP/1.0 means faulty framing. waitress reads
        # it only in HTTP/1.1, so it would frame such a body by Content-Length (or as none).
        if self.version != "1.1" and "TRANSFER_ENCODING" in self.headers:
            raise ParsingError("Transfer-Encoding outside HTTP/1.1")
        # RFC 9112 section 3.2: an HTTP/1.1 request with no Host, several, or an invalid one MUST
        # be a 400. waitress joins several into one value with ", ", which no valid host holds.
        if self.version == "1.1" and not _HOST.fullmatch(self.headers.get("HOST", " ")):
            raise ParsingError("no Host, several, or an invalid one")
        if self.chunked:
            self.body_rcv = _ChunkedReceiver(self.body_rcv.getbuf())


class _ChunkedReceiver(ChunkedReceiver):
    """waitress's chunked decoder, refusing a bare LF in a chunk line or the trailer at once.

    RFC 9112 section 7.1 ends those lines with CRLF; waitress looks for one only, so a body
    framed with bare LFs waited for the idle timeout. Chunk data may hold any byte.
    """

    error: Any  # waitress's (class default None): why the body cannot be framed

    def received(self, s: bytes) -> int:
        consumed = int(super().received(s))
        # An unfinished line holds no CRLF yet, so any LF in it stands alone; an unfinished
        # trailer may end in the CR of a CRLF still to come.
        if self.error is None and (b"\n" in self.control_line or _BARE_CR_OR_LF.search(self.trailer.rstrip(b"\r"))):
            self.error = BadRequest("a bare LF in the chunked framing")
        return consumed


def _bare_cr_or_lf(head: bytes, data: bytes) -> bool:
    """Whether the request head, as far as ``data`` takes it, holds a CR or LF outside a CRLF.

    ``head`` is what has arrived of it before; its last byte is looked at again, as a CR that
    ended one read may meet its LF at the start of the next. A CR that ends ``data`` waits.
    """
    buffer = head + data
    end = buffer.find(b"\r\n\r\n")
    stop = end + 4 if end >= 0 else len(buffer) - buffer.endswith(b"\r")
    return _BARE_CR_OR_LF.search(buffer, max(len(head) - 1, 0), stop) is not None


class _Channel(HTTPChannel):
    error_task_class = _JsonErrorTask
    parser_class = _Parser

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connected_at = time.monotonic()
        self._heard_from_client = False

    def received(self, data: bytes) -> bool:
        self._heard_from_client = self._heard_from_client or bool(data)
        return bool(super().received(data))

    def head_started(self) -> float | None:
        """When the request head now awaited began, or None while no head is awaited.

        A new connection awaits its first head from the moment it opens; a kept-alive one awaits
        nothing until bytes come (the idle timeout covers it), nor does one whose head is in.
        """
        request = self.request
        if request is None:
            return None if self._heard_from_client else self._connected_at
        return None if request.headers_finished else float(request.started)


class _Server(TcpWSGIServer):
    channel_class = _Channel

    def __init__(self, *args: Any, head_timeout: float, **kwargs: Any) -> None:
        self.head_timeout = head_timeout
        super().__init__(*args, **kwargs)

    def maintenance(self, now: float) -> None:
        """waitress's idle timeout, then the head timeout (on the monotonic clock, not ``now``)."""
        super().maintenance(now)
        cutoff = time.monotonic() - self.head_timeout
        for channel in self.active_channels.values():
            started = channel.head_started()
            # A channel still serving a request keeps a pipelined head that waits behind it.
            if started is not None and started < cutoff and not channel.requests:
                channel.will_close = True


def _raise_open_file_limit(wanted: int) -> None:
    """Raise the soft limit on open files to ``wanted``, or as far as the hard limit allows.

    macOS starts processes at 256. Past the limit, accept() fails and the connection waits in the
    listen queue. A limit that cannot be raised is no reason not to serve.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    # Refused, e.g. above macOS's kern.maxfilesperproc: serve within the limit there is.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class _OpenFiles:
    """The connections all of the process's servers may hold together, and the limit to match."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections = 0

    def reserve(self, connections: int) -> None:
        with self._lock:
            self._connections += connections
            _raise_open_file_limit(self._connections + OTHER_DESCRIPTORS)

    def release(self, connections: int) -> None:
        with self._lock:
            self._connections -= connections


_OPEN_FILES = _OpenFiles()


class WsgiServer:
    """``app`` served on ``host:port`` (0: any free port) until ``stop()``.

    The socket is bound here, so a busy port fails at construction with ``OSError``.
    """

    def __init__(
        self,
        app: WsgiApp,
        host: str,
        port: int,
        *,
        name: str,
        threads: int = 8,
        idle_timeout: int = IDLE_TIMEOUT,
        head_timeout: float = HEAD_TIMEOUT,
        connection_limit: int = CONNECTION_LIMIT,
        max_body: int = MAX_BODY_BYTES,
        verbose: bool = False,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is not from 0 to 65535")
        adjustments = Adjustments(
            host=host,
            port=port,
            # waitress rejects a head or body whose size reaches its limit; API Gateway's are inclusive.
            max_request_header_size=MAX_HEAD_BYTES + 1,
            max_request_body_size=max_body + 1,
            channel_timeout=idle_timeout,
            # Timed-out channels are only closed when this interval has passed.
            cleanup_interval=MAINTENANCE_INTERVAL,
            connection_limit=connection_limit,
            # The gateway passes X-Forwarded-* on as the client sent them; waitress would drop them.
            clear_untrusted_proxy_headers=False,
            ident="",  # no Server header: API Gateway sends none
            asyncore_use_poll=True,
            log_socket_errors=verbose,
        )
        # waitress's default too, set here so that no upgrade drops it: headers and body leave
        # in separate writes, and a keep-alive client would wait for a delayed ACK (40 ms) on each.
        adjustments.socket_options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        self._map: dict[int, Any] = {}
        # Worker threads start with start(): a port that fails to bind leaves none behind.
        self._workers = ThreadedTaskDispatcher()
        self._threads = threads
        try:
            self._server = _Server(
                app,
                map=self._map,
                dispatcher=self._workers,
                adj=adjustments,
                sockinfo=adjustments.listen[0],
                head_timeout=head_timeout,
            )
        except BaseException:
            wasyncore.close_all(self._map)
            raise
        self._connection_limit = connection_limit
        _OPEN_FILES.reserve(connection_limit)
        self._name = name
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._sockets_closed = False

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def start(self) -> Self:
        self._workers.set_thread_count(self._threads)
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        """waitress's own loop (``TcpWSGIServer.run``), until ``stop()`` has closed the sockets.

        It also ends, as waitress's does, if the map empties by itself (the listening socket failed).
        """
        while self._map and not self._sockets_closed:
            wasyncore.loop(timeout=self._server.adj.asyncore_loop_timeout, map=self._map, use_poll=True, count=1)

    def _close_sockets(self) -> None:
        # Run by the loop, which owns its sockets. The wake-up pipe stays open: the loop may run
        # this before stop()'s own write to the pipe has happened (an earlier wake-up already
        # pending), and a closed pipe's descriptor may be reused by then, so that write would
        # land elsewhere. Workers pull the pipe too; it is closed once they are gone.
        try:
            for dispatcher in list(self._map.values()):
                if dispatcher is self._server.trigger:
                    continue
                try:
                    if dispatcher is self._server:
                        wasyncore.dispatcher.close(dispatcher)  # the server's close() closes the pipe too
                    elif isinstance(dispatcher, HTTPChannel):
                        dispatcher.handle_close()  # also wakes a worker waiting for its output to drain
                    else:
                        dispatcher.close()
                except OSError:
                    pass  # closing is all that is asked; a socket that fails to close is gone anyway
        finally:
            self._sockets_closed = True

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        _OPEN_FILES.release(self._connection_limit)
        trigger = self._server.trigger
        # A closed pipe means the listening socket failed and its close() took the pipe along.
        if self._thread is not None and self._thread.is_alive() and not trigger._closed:
            trigger.pull_trigger(self._close_sockets)
            self._thread.join(10)
        self._workers.shutdown(timeout=5)
        if self._workers.threads:
            # A worker is still busy (a response stuck for 5 s) and may pull the pipe when it
            # ends: the pipe is left open to it rather than closed under it.
            self._map.pop(trigger._fileno, None)
        wasyncore.close_all(self._map, ignore_all=True)
