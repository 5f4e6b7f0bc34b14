"""The local servers' request parser, fed in pieces: every place a read could end is tried."""

from __future__ import annotations

import pytest
from waitress.adjustments import Adjustments
from waitress.utilities import BadRequest

from devkit.local.server import _Parser

GOOD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\r\n\r\n"


def feed(*pieces: bytes) -> _Parser:
    """A parser given the pieces as a channel would: each read, until it has framed a request."""
    parser = _Parser(Adjustments())
    for piece in pieces:
        while piece and not parser.completed:
            piece = piece[parser.received(piece) :]
    return parser


def splits(data: bytes) -> list[tuple[bytes, ...]]:
    """The data whole, and cut in two and in three at every place."""
    cuts: list[tuple[bytes, ...]] = [(data,)]
    cuts += [(data[:i], data[i:]) for i in range(1, len(data))]
    cuts += [(data[:i], data[i:j], data[j:]) for i in range(1, len(data)) for j in range(i + 1, len(data))]
    return cuts


def test_a_good_head_is_framed_wherever_the_reads_end():
    for pieces in splits(GOOD):
        parser = feed(*pieces)
        assert (parser.completed, parser.error, parser.path) == (True, None, "/health"), pieces


@pytest.mark.parametrize(
    "head",
    [
        GOOD.replace(b"\r\nHost", b"\nHost"),
        GOOD.replace(b"\r\nX-A", b"\nX-A"),
        GOOD.replace(b"1\r\n\r\n", b"1\r\n\n"),
        GOOD.replace(b"\r\nHost", b"\rHost"),
        GOOD.replace(b"1\r\n\r\n", b"1\r\r\n\r\n"),
        b"\n" + GOOD,
    ],
    ids=["lf-after-request-line", "lf-between-fields", "lf-ending-the-head", "cr-alone", "cr-cr-lf", "leading-lf"],
)
def test_a_bare_cr_or_lf_is_refused_wherever_the_reads_end(head: bytes):
    for pieces in splits(head):
        parser = feed(*pieces)
        assert parser.completed and isinstance(parser.error, BadRequest), pieces


def test_a_bare_cr_or_lf_is_refused_before_the_head_ends():
    # No CRLF CRLF yet: waitress alone would wait for more, until the idle timeout.
    assert isinstance(feed(b"GET / HTTP/1.1\nHost: x").error, BadRequest)
    assert isinstance(feed(b"GET / HTTP/1.1\r", b"Host: x").error, BadRequest)


def test_a_cr_ending_a_read_waits_for_the_next():
    parser = feed(b"GET / HTTP/1.1\r")
    assert (parser.completed, parser.error) == (False, None)


def test_bytes_after_the_head_are_the_body_not_the_head():
    body = b"a\nb\rc\n"
    parser = feed(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n" + body)
    assert (parser.completed, parser.error, parser.get_body_stream().read()) == (True, None, body)


@pytest.mark.parametrize(
    "head",
    [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
    ],
    ids=["cl-te", "te-cl0", "http-1.0-te", "http-1.0-te-cl"],
)
def test_framing_that_could_be_read_two_ways_is_refused(head: bytes):
    assert isinstance(feed(head).error, BadRequest)


@pytest.mark.parametrize(
    ("head", "refused"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: [::1]:3000\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: localapi01.execute-api.us-east-1.amazonaws.com\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", False),  # empty: a target without authority
        (b"GET / HTTP/1.0\r\n\r\n", False),
    ],
)
def test_an_http_1_1_request_needs_exactly_one_valid_host(head: bytes, refused: bool):
    # RFC 9112 section 3.2: no Host, several Host lines or an invalid value MUST be a 400.
    parser = feed(head)
    assert parser.completed and isinstance(parser.error, BadRequest) == refused


CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_a_chunked_body_is_decoded_wherever_the_reads_end():
    body = b"5;ext=1\r\nhe\nlo\r\n3\r\n\r\n!\r\n0\r\nX-Trailer: 1\r\n\r\n"
    for pieces in splits(body):
        parser = feed(CHUNKED_HEAD, *pieces)
        assert (parser.completed, parser.error) == (True, None), pieces
        assert parser.get_body_stream().read() == b"he\nlo\r\n!", pieces


@pytest.mark.parametrize(
    "body",
    [
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\n\n",
        b"5;a=b\nhello\r\n0\r\n\r\n",
        b"0\r\nX-Trailer: 1\n\r\n",
        b"0\r\n\n",
    ],
    ids=["chunk-size", "last-chunk", "extension", "trailer", "end-of-trailer"],
)
def test_a_bare_lf_in_the_chunked_framing_is_refused_wherever_the_reads_end(body: bytes):
    for pieces in splits(body):
        parser = feed(CHUNKED_HEAD, *pieces)
        assert parser.completed and isinstance(parser.error, BadRequest), pieces
