"""``make bench``: the Lambda authorizer against physical floors and Powertools, in one run.

Shared machines are noisy, so every figure is a median (and p99) over several rounds and is
reported as a ratio to a floor measured in the same run, interleaved with what it is compared to.
Within a round the passes take turns in blocks of about ``BLOCK`` calls, and a ratio is paired:
the median, over turns, of a block's median over the median of the floor's block of the same
turn (at most six blocks, a few tens of milliseconds, away). A burst
of load from a neighbour then moves both sides of most pairs, not one side of a whole figure:

- warm decisions (one process of ``.venv-bench``): the handler end to end (event in, response
  out, its decision line written by awslambdaric's own JSON log handler, as Lambda's runtime
  does with ``LogFormat: JSON``), the decision itself, and Powertools' ``JWTVerifier.verify`` on
  the same tokens, vs a bare ``cryptography`` RSA-2048 PKCS#1 v1.5 SHA-256 verify of them;
- cold start (fresh ``.venv-bench`` processes, whole-process wall time and peak memory): importing
  the authorizer, PyJWT and Powertools' verifier vs a process importing only the stdlib and
  cryptography's RSA primitives; process start to the first decision, with discovery and JWKS
  fetched over TLS on 127.0.0.1, vs that process plus the same two fetches, and vs Powertools;
- the local gateway over loopback per route type; the deployment packages, now and before.

``.venv-bench`` (``make bench`` creates it from requirements-bench.txt) holds the authorizer's own
pins, Powertools and awslambdaric; this process (``.venv``) mints tokens and serves the issuer.
The exit status is non-zero when a goal is missed, so CI-style use can gate on it.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import dataclasses
import http.client
import http.server
import importlib
import io
import json
import logging
import os
import platform
import pstats
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from devkit import DEFAULT_AUDIENCE as AUDIENCE

if TYPE_CHECKING:
    from devkit.local.issuer import DevIssuer

ROOT = Path(__file__).resolve().parents[2]
AUTHORIZER = ROOT / "src" / "authorizer"
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
EVENT = json.loads((ROOT / "events" / "authorizer-v2-valid.json").read_text())
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"
ROUTE = "GET /lambda/test"
# Calls per block (100 to 199 when --per-round is not a multiple): enough for a stable block
# median, few enough that a floor block and the blocks paired with it run tens of ms apart.
BLOCK = 100
# What the template's LoggingConfig sets (LogFormat JSON, ApplicationLogLevel INFO).
RUNTIME_LOG_LEVEL = "INFO"


@dataclass
class Row:
    name: str
    median: float
    p99: float | None
    unit: str
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    # A stretch target: reported beside the goal, never a reason to fail the run.
    moonshot: float | None = None


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def per_call_us(call: Callable[[Any], Any], inputs: Iterable[Any]) -> list[float]:
    """Wall time of each call in microseconds (the timer's own cost is in every figure alike)."""
    clock = time.perf_counter_ns
    samples = []
    for item in inputs:
        started = clock()
        call(item)
        samples.append((clock() - started) / 1000)
    return samples


def rotated(items: Sequence[Any], turn: int) -> list[Any]:
    """Round ``turn``'s order: each item takes each position equally often, none always first."""
    shift = turn % len(items)
    return [*items[shift:], *items[:shift]]


def v2_event(token: str) -> dict[str, Any]:
    event = json.loads(json.dumps(EVENT))
    event["headers"]["authorization"] = f"Bearer {token}"
    event["identitySource"] = [f"Bearer {token}", event["routeKey"]]
    return event


def paired_ratio(figures: Sequence[float], floors: Sequence[float]) -> float:
    """The median of ``figures[i] / floors[i]``: each figure over the floor of its own turn."""
    if not figures or len(figures) != len(floors):
        raise ValueError("one floor per figure")
    return statistics.median(figure / floor for figure, floor in zip(figures, floors, strict=True))


def _ratio_row(
    name: str, samples: list[float], ratio: float, unit: str, goal: float | None, moonshot: float | None = None
) -> Row:
    median = statistics.median(samples)
    if goal is None:
        return Row(name, median, percentile(samples, 0.99), unit, ratio)
    return Row(name, median, percentile(samples, 0.99), unit, ratio, f"≤ {goal}x", ratio <= goal, moonshot)


def _faster_row(name: str, peer: list[float], lead: float, ratio: float, unit: str, factor: float) -> Row:
    """The peer's figure and its ratio to the floor; ``lead`` is peer over ours, to be ≥ ``factor``."""
    goal = f"ours ≥ {factor}x faster: {lead:.2f}x"
    return Row(name, statistics.median(peer), percentile(peer, 0.99), unit, ratio, goal, lead >= factor)


# ---------------------------------------------------------------------------- TLS issuer
class _IssuerHandler(http.server.BaseHTTPRequestHandler):
    server: _IssuerHttpServer
    # Real issuers keep connections alive; a client that reuses one (urllib3) may, as in production.
    protocol_version = "HTTP/1.1"
    timeout = 30
    # Head and body in one write, sent at once: written apart, Nagle's algorithm holds the body
    # back for the client's delayed ACK (40 ms a fetch here), a stall no real issuer has.
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def do_GET(self) -> None:
        body = self.server.documents.get(self.path)
        agent = self.headers.get("User-Agent", "")
        # Who fetched: Powertools speaks urllib3, the floor urllib.request, ours http.client (none).
        client = "urllib3" if agent.startswith("python-urllib3") else "urllib" if "urllib" in agent else "ours"
        with self.server.lock:
            self.server.requests[(self.path, client)] += 1
        self.send_response(200 if body is not None else 404)
        payload = body if body is not None else b'{"error":"not_found"}'
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _IssuerHttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    documents: dict[str, bytes]
    requests: Counter[tuple[str, str]]
    lock: threading.Lock


class TlsIssuer:
    """``DevIssuer``'s discovery and JWKS over HTTPS on 127.0.0.1, trusted through a CA of this run.

    The dev issuer's own server (waitress) speaks plain HTTP; real issuers are HTTPS, and a TLS
    handshake and a CA bundle load are part of every cold start, so this serves the same
    documents over TLS. Children trust it through ``SSL_CERT_FILE`` (``bundle``).
    """

    def __init__(self) -> None:
        from devkit.local.issuer import DevIssuer
        from devkit.tls import LocalCA

        ca = LocalCA()
        self._server = _IssuerHttpServer(("127.0.0.1", 0), _IssuerHandler)
        self._server.socket = ca.server_context().wrap_socket(self._server.socket, server_side=True)
        port = self._server.server_address[1]
        self.issuer: DevIssuer = DevIssuer(issuer=f"https://127.0.0.1:{port}/", default_audience=AUDIENCE)
        # The documents never change in a run: made once, so serving them costs the same every time.
        self._server.documents = {
            DISCOVERY_PATH: json.dumps(self.issuer.discovery()).encode(),
            JWKS_PATH: json.dumps(self.issuer.jwks()).encode(),
        }
        self._server.requests = Counter()
        self._server.lock = threading.Lock()
        # The system's CA bundle plus ours: a child loads a real trust store, as in Lambda.
        handle = tempfile.NamedTemporaryFile(prefix="bench-ca-", suffix=".pem", delete=False)  # noqa: SIM115
        handle.close()
        self.bundle = Path(handle.name)
        system = Path(ssl.get_default_verify_paths().cafile or "")
        self.bundle.write_bytes((system.read_bytes() if system.is_file() else b"") + ca.pem)
        self._thread = threading.Thread(target=self._server.serve_forever, name="bench-issuer", daemon=True)
        self._thread.start()

    def fetches(self, path: str) -> Counter[str]:
        with self._server.lock:
            return Counter({client: n for (where, client), n in self._server.requests.items() if where == path})

    def env(self, **extra: str) -> dict[str, str]:
        """A child's environment: the authorizer's configuration and trust in this issuer."""
        return {
            **os.environ,
            "ISSUER": self.issuer.issuer,
            "AUDIENCE": AUDIENCE,
            "PYTHONPATH": str(AUTHORIZER),
            "SSL_CERT_FILE": str(self.bundle),
            **extra,
        }

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.bundle.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- warm path
def warm(tls: TlsIssuer, python: Path, rounds: int, per_round: int, profile: bool) -> tuple[str, list[Row]]:
    """Mint here (PyJWT lives in .venv), measure in one .venv-bench process, rows back as JSON."""
    issuer = tls.issuer
    print(f"minting {rounds * (2 * per_round + 1) + 1} tokens ...", file=sys.stderr, flush=True)
    request = {
        "public_key": issuer.key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "first": issuer.mint(scopes=["read:test"]),
        "rounds": [[issuer.mint(scopes=["read:test"]) for _ in range(per_round)] for _ in range(rounds)],
        # More unique tokens for the pass with the line below INFO (the first set is cached by then).
        "rounds_below_info": [[issuer.mint(scopes=["read:test"]) for _ in range(per_round)] for _ in range(rounds)],
        # A token of its own per round: none of the unique tokens is ever a cache hit.
        "repeated": [issuer.mint(scopes=["read:test"]) for _ in range(rounds)],
        "profile": [issuer.mint(scopes=["read:test"]) for _ in range(per_round)] if profile else [],
    }
    before = tls.fetches(JWKS_PATH)
    done = subprocess.run(
        [str(python), "-m", "devkit.bench", "--warm-child"],
        input=json.dumps(request),
        env=tls.env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: the warm measurements failed (exit {done.returncode}); see above")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [Row(**row) for row in answer["rows"]]
    after = tls.fetches(JWKS_PATH)
    ours = sum(after.values()) - sum(before.values()) - (after["urllib3"] - before["urllib3"])
    decisions = answer["decisions"]
    rows.append(Row(f"JWKS fetches for {decisions} decisions (ours)", ours, None, "", None, "= 1", ours == 1))
    return f"Warm decisions (one process; decision line by {answer['formatter']})", rows


def warm_child() -> int:
    """The warm measurements, run in .venv-bench: the request on stdin, the rows on stdout."""
    request = json.loads(sys.stdin.read())
    public_key = serialization.load_pem_public_key(request["public_key"].encode())
    with tempfile.TemporaryDirectory() as scratch:
        sink_path = Path(scratch) / "telemetry"
        formatter = _runtime_logging(sink_path)
        # After the runtime's logging, as in Lambda: the runtime sets it up, then imports the handler.
        import app

        verifier_module: Any = importlib.import_module("aws_lambda_powertools.utilities.auth_alpha.jwt")
        powertools = verifier_module.JWTVerifier(
            issuer=os.environ["ISSUER"], audience=os.environ["AUDIENCE"].split(","), algorithms=["RS256"]
        )
        # The first decision fetches discovery + JWKS; Powertools' first verify fetches its own.
        if not app.lambda_handler(v2_event(request["first"]), None)["isAuthorized"]:
            raise SystemExit("bench: the authorizer denied a valid token; check ISSUER/AUDIENCE")
        powertools.verify(request["first"])
        if not isinstance(public_key, RSAPublicKey):
            raise SystemExit("bench: the issuer's key is not RSA")
        passes = _WarmPasses(app, powertools, public_key, sink_path)
        rounds = zip(request["rounds"], request["repeated"], request["rounds_below_info"], strict=True)
        for turn, (tokens, again, others) in enumerate(rounds):
            passes.round(turn, tokens, again, others)
        rows, decisions = passes.rows()
        if request["profile"]:
            _profile(app, [v2_event(token) for token in request["profile"]])
    print(
        json.dumps({"rows": [dataclasses.asdict(row) for row in rows], "decisions": decisions, "formatter": formatter})
    )
    return 0


def _runtime_logging(sink_path: Path) -> str:
    """Root logging as Lambda's Python runtime sets it up for ``LogFormat: JSON``, by its own code.

    awslambdaric's ``_setup_logging`` puts its ``LambdaLoggerHandlerWithFrameType`` on the root
    logger with its ``JsonFormatter`` and request-id filter; its telemetry sink writes one framed
    record per line to a file descriptor (a pipe in Lambda, a scratch file here, unbuffered alike).
    """
    try:
        bootstrap: Any = importlib.import_module("awslambdaric.bootstrap")
        log_utils: Any = importlib.import_module("awslambdaric.lambda_runtime_log_utils")
        version = importlib.import_module("awslambdaric").__version__
    except ImportError as missing:
        raise SystemExit(f"bench: awslambdaric is not importable ({missing}); rebuild .venv-bench") from None
    fd = os.open(sink_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    sink = bootstrap.FramedTelemetryLogSink(fd)
    sink.__enter__()  # opens the descriptor as the runtime does; closed with the process
    bootstrap._setup_logging(log_utils.LogFormat.JSON, RUNTIME_LOG_LEVEL, sink)
    bootstrap._GLOBAL_AWS_REQUEST_ID = "8f5e2a1c-4b7d-4e0a-9c3f-2d6b1a0e7f45"  # set per invocation in Lambda
    return f"awslambdaric {version}'s own JsonFormatter, on its runtime root handler"


def _frames(path: Path, start: int) -> int:
    """Records the runtime's sink wrote after byte ``start`` (4-byte type, 4-byte length, 8-byte time)."""
    with path.open("rb") as sink:
        sink.seek(start)
        data = sink.read()  # only this block's frames: the file grows to megabytes over a run
    count = offset = 0
    while offset + 16 <= len(data):
        offset += 16 + int.from_bytes(data[offset + 4 : offset + 8], "big")
        count += 1
    return count


class _WarmPasses:
    """The warm passes of one process: the floor, ours and Powertools on the same tokens, by round."""

    def __init__(self, app: Any, powertools: Any, public_key: RSAPublicKey, sink_path: Path) -> None:
        self.app = app
        self.powertools = powertools
        self.key = public_key
        self.pkcs1, self.sha256 = padding.PKCS1v15(), hashes.SHA256()
        self.sink_path = sink_path
        self.root = logging.getLogger()
        self.runtime_handlers = list(self.root.handlers)
        kinds = ("floor", "unique", "below_info", "powertools", "repeated", "quiet", "decide")
        self.samples: dict[str, list[float]] = {kind: [] for kind in kinds}
        # Each block's median, in the order the blocks ran: what the paired ratios divide.
        self.by_block: dict[str, list[float]] = {kind: [] for kind in kinds}
        self.answers: list[bool] = []
        self.written = self.expected = 0

    def floor(self, signed: tuple[bytes, bytes]) -> None:
        self.key.verify(signed[1], signed[0], self.pkcs1, self.sha256)

    def handle(self, event: dict[str, Any]) -> None:
        self.answers.append(self.app.lambda_handler(event, None)["isAuthorized"])

    def decide(self, header: str) -> None:
        self.answers.append(self.app.AUTHORIZER.decide(header, ROUTE).allowed)

    def verify(self, token: str) -> None:
        self.answers.append(bool(self.powertools.verify(token).get("sub")))

    def record(self, kind: str, samples: list[float]) -> None:
        self.samples[kind] += samples
        self.by_block[kind].append(statistics.median(samples))

    def ratio(self, kind: str, over: str = "floor") -> float:
        return paired_ratio(self.by_block[kind], self.by_block[over])

    def timed(self, kind: str, call: Callable[[Any], None], inputs: list[Any]) -> None:
        self.record(kind, per_call_us(call, inputs))

    def logged(self, kind: str, call: Callable[[Any], None], inputs: list[Any]) -> None:
        # Count what the runtime's sink wrote: the line must be written for the row to mean it.
        start = self.sink_path.stat().st_size
        self.record(kind, per_call_us(call, inputs))
        self.written += _frames(self.sink_path, start)
        self.expected += len(inputs)

    def quiet(self, kind: str, call: Callable[[Any], None], inputs: list[Any]) -> None:
        for handler in self.runtime_handlers:
            self.root.removeHandler(handler)
        try:
            self.record(kind, per_call_us(call, inputs))
        finally:
            for handler in self.runtime_handlers:
                self.root.addHandler(handler)

    def below_info(self, kind: str, call: Callable[[Any], None], inputs: list[Any]) -> None:
        # ApplicationLogLevel WARN: no decision record at all, as Powertools' verify writes none.
        self.root.setLevel(logging.WARNING)
        try:
            self.record(kind, per_call_us(call, inputs))
        finally:
            self.root.setLevel(RUNTIME_LOG_LEVEL)

    def round(self, turn: int, tokens: list[str], again: str, others: list[str]) -> None:
        signed = []
        for token in tokens:
            head, body, sig = token.split(".")
            signed.append((f"{head}.{body}".encode(), _b64(sig)))
        passes = [
            (self.timed, "floor", self.floor, signed),
            (self.logged, "unique", self.handle, [v2_event(t) for t in tokens]),
            (self.below_info, "below_info", self.handle, [v2_event(t) for t in others]),
            (self.timed, "powertools", self.verify, tokens),
            (self.logged, "repeated", self.handle, [v2_event(again)] * len(tokens)),
            (self.quiet, "quiet", self.handle, [v2_event(again)] * len(tokens)),
            (self.timed, "decide", self.decide, [f"Bearer {again}"] * len(tokens)),
        ]
        # The floor and each peer take turns, block by block, in an order that moves each time.
        blocks = max(1, len(tokens) // BLOCK)
        for block in range(blocks):
            for run, kind, call, inputs in rotated(passes, turn * blocks + block):
                run(kind, call, inputs[block * len(inputs) // blocks : (block + 1) * len(inputs) // blocks])

    def rows(self) -> tuple[list[Row], int]:
        if not all(self.answers):
            raise SystemExit("bench: a valid token was denied; the figures would mean nothing")
        samples, ratio = self.samples, self.ratio
        base = statistics.median(samples["floor"])
        lines = f"decision lines the runtime's handler wrote, of {self.expected}"
        rows = [
            Row("floor: RSA-2048 PKCS#1 v1.5 SHA-256 verify", base, percentile(samples["floor"], 0.99), "µs", 1.0),
            _ratio_row(
                "handler end to end, unique valid tokens, decision line written as JSON",
                samples["unique"],
                ratio("unique"),
                "µs",
                3.0,
                2.0,
            ),
            _ratio_row(
                "  same, decision line below INFO (ApplicationLogLevel WARN: no record at all)",
                samples["below_info"],
                ratio("below_info"),
                "µs",
                None,
            ),
            # Powertools' verify writes no line, so it races our handler with the line below INFO.
            _faster_row(
                "Powertools JWTVerifier.verify, unique tokens (keys cached) vs ours, line below INFO",
                samples["powertools"],
                ratio("powertools", "below_info"),
                ratio("powertools"),
                "µs",
                3.0,
            ),
            Row(
                "  Powertools verify ÷ our handler with the line written as JSON",
                ratio("powertools", "unique"),
                None,
                "x",
            ),
            _ratio_row(
                "handler end to end, one repeated token, decision line written as JSON",
                samples["repeated"],
                ratio("repeated"),
                "µs",
                1.5,
                1.2,
            ),
            _ratio_row(
                "  same, no root handler (the line's record made, not written)",
                samples["quiet"],
                ratio("quiet"),
                "µs",
                None,
            ),
            _ratio_row(
                "decision, one repeated token (decide: verified-claims cache hit)",
                samples["decide"],
                ratio("decide"),
                "µs",
                0.3,
            ),
            Row(lines, self.written, None, "", None, f"= {self.expected}", self.written == self.expected),
        ]
        # Ours decided the first token, then four kinds of pass per round; Powertools is not counted.
        ours = ("unique", "below_info", "repeated", "quiet", "decide")
        return rows, 1 + sum(len(samples[kind]) for kind in ours)


def _profile(app: Any, events: list[dict[str, Any]]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for event in events:
        app.lambda_handler(event, None)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
    print(f"\nprofile of {len(events)} unique-token decisions, JSON line written (by own time):", file=sys.stderr)
    print(out.getvalue(), file=sys.stderr)


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# ---------------------------------------------------------------------------- cold start
# What any verifier of RS256 tokens fetched over HTTPS must import at the least.
FLOOR_IMPORTS = (
    "import urllib.request, ssl, json, hashlib, base64, logging; "
    "from cryptography.hazmat.primitives.asymmetric import rsa, padding; "
    "from cryptography.hazmat.primitives import hashes"
)
# The floor plus the two fetches any first decision needs, with one TLS context for both.
FLOOR_FETCH = f"""{FLOOR_IMPORTS}
import os
context = ssl.create_default_context()
discovery = os.environ["ISSUER"] + ".well-known/openid-configuration"
with urllib.request.urlopen(discovery, timeout=10, context=context) as a:
    jwks_uri = json.load(a)["jwks_uri"]
with urllib.request.urlopen(jwks_uri, timeout=10, context=context) as a:
    print(json.dumps({{"ok": len(json.load(a)["keys"]) > 0}}))
"""
OUR_FIRST = """
import json, sys
import app
token = sys.stdin.readline().strip()
event = {"version": "2.0", "routeKey": "GET /lambda/test", "headers": {"authorization": "Bearer " + token}}
print(json.dumps({"ok": app.lambda_handler(event, None)["isAuthorized"]}))
"""
POWERTOOLS_IMPORT = "from aws_lambda_powertools.utilities.auth_alpha.jwt import JWTVerifier"
POWERTOOLS_FIRST = f"""
import json, os, sys
{POWERTOOLS_IMPORT}
verifier = JWTVerifier(issuer=os.environ["ISSUER"], audience=os.environ["AUDIENCE"].split(","), algorithms=["RS256"])
claims = verifier.verify(sys.stdin.readline().strip())
print(json.dumps({{"ok": claims["iss"] == os.environ["ISSUER"]}}))
"""


@dataclass
class Probe:
    """One kind of fresh process: how to start it, and whether it needs a token and answers ok."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    decides: bool = False


# Runs in a bare interpreter (-I -S): starts each job's process, waits for it with wait4, and
# answers one JSON line per job. Its child's stderr joins stdout: the answer is the last line.
SPAWNER = """
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    started = time.perf_counter()
    child = subprocess.Popen(job["argv"], env=job["env"], cwd=job["cwd"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    child.stdin.write(job["stdin"].encode())
    child.stdin.close()
    out = child.stdout.read().decode(errors="replace")
    child.stdout.close()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = (time.perf_counter() - started) * 1000
    child.returncode = os.waitstatus_to_exitcode(status)
    answer = {"ms": elapsed, "kib": usage.ru_maxrss, "code": child.returncode, "out": out[-4000:]}
    print(json.dumps(answer), flush=True)
"""


class Spawner:
    """Starts the cold-start processes from a small process of its own, and times them there.

    On Linux a child's ``ru_maxrss`` begins at its parent's peak (exec records the memory the
    child had from its parent's fork or vfork), so every child of this process (tens of MB:
    tokens, servers, PyJWT) would report at least that much. A bare interpreter (~10 MB, below
    any process measured here) starts them instead, and reads each one's own rusage with wait4.
    """

    def __init__(self, python: Path) -> None:
        self._process = subprocess.Popen(
            [str(python), "-I", "-S", "-c", SPAWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, argv: list[str], env: dict[str, str], cwd: Path, stdin: str = "") -> tuple[float, float, str]:
        """Whole-process wall time (ms), peak RSS (MB) and output of one fresh process."""
        pipe_in, pipe_out = self._process.stdin, self._process.stdout
        if pipe_in is None or pipe_out is None:  # never: both are pipes; this tells mypy so
            raise RuntimeError("no pipes to the spawner")
        pipe_in.write(json.dumps({"argv": argv, "env": env, "cwd": str(cwd), "stdin": stdin}) + "\n")
        pipe_in.flush()
        answer = json.loads(pipe_out.readline() or "null")
        if answer is None:
            raise SystemExit("bench: the process spawner ended unexpectedly")
        if answer["code"] != 0:
            last = answer["out"].strip().splitlines()[-1:]
            raise SystemExit(f"bench: {' '.join(argv[:3])} failed (exit {answer['code']}): {last}")
        return answer["ms"], answer["kib"] / 1024, answer["out"]  # Linux counts ru_maxrss in KiB

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(10)


def cold(tls: TlsIssuer, python: Path, runs: int) -> list[Row]:
    env = tls.env()
    py = str(python)
    samples: dict[str, list[float]] = {}
    memory: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        # As deployed: our modules without .pyc (the code directory is read-only in Lambda),
        # dependencies with the .pyc pip wrote when it installed them.
        plain = Path(scratch) / "authorizer"
        shutil.copytree(AUTHORIZER, plain, ignore=shutil.ignore_patterns("__pycache__", "requirements.txt"))
        plain_env = {**env, "PYTHONPATH": str(plain)}
        probes = {
            "floor": Probe([py, "-c", FLOOR_IMPORTS], env, AUTHORIZER),
            "app": Probe([py, "-c", "import app"], env, AUTHORIZER),
            "app_no_pyc": Probe([py, "-B", "-c", "import app"], plain_env, plain),
            "jwt": Probe([py, "-c", "import jwt"], env, AUTHORIZER),
            "powertools": Probe([py, "-c", POWERTOOLS_IMPORT], env, AUTHORIZER),
            "floor_fetch": Probe([py, "-c", FLOOR_FETCH], env, AUTHORIZER, decides=True),
            "first": Probe([py, "-c", OUR_FIRST], env, AUTHORIZER, decides=True),
            "first_no_pyc": Probe([py, "-B", "-c", OUR_FIRST], plain_env, plain, decides=True),
            "powertools_first": Probe([py, "-c", POWERTOOLS_FIRST], env, AUTHORIZER, decides=True),
        }
        order = list(probes)
        print(f"cold start: {len(probes)} kinds of process x {runs} runs, interleaved ...", file=sys.stderr, flush=True)
        spawner = Spawner(python)
        try:
            for turn in range(-1, runs):  # turn -1 writes the .pyc and warms the page cache; not timed
                token = tls.issuer.mint(scopes=["read:test"])  # one per run: ours and Powertools verify it
                for name in rotated(order, max(turn, 0)):
                    probe = probes[name]
                    elapsed, peak, out = spawner.run(probe.argv, probe.env, probe.cwd, token + "\n")
                    if probe.decides and not json.loads(out.strip().splitlines()[-1])["ok"]:
                        raise SystemExit(f"bench: the {name} process did not accept a valid token")
                    if turn >= 0:
                        samples.setdefault(name, []).append(elapsed)
                        memory.setdefault(name, []).append(peak)
        finally:
            spawner.close()
    return _cold_rows(samples, memory, runs)


def _cold_rows(samples: dict[str, list[float]], memory: dict[str, list[float]], runs: int) -> list[Row]:
    # samples[name][t] is turn t's process of that kind: the kinds of one turn ran side by side.
    def ratio(key: str, floor: str) -> float:
        return paired_ratio(samples[key], samples[floor])

    def row(name: str, key: str, floor: str, goal: float | None = None) -> Row:
        return _ratio_row(name, samples[key], ratio(key, floor), "ms", goal)

    rss = {name: statistics.median(values) for name, values in memory.items()}
    return [
        row(f"floor process: stdlib + cryptography RSA imports (median of {runs})", "floor", "floor"),
        row("import the authorizer (app), whole process", "app", "floor", 1.15),
        row("  import, our modules without .pyc (as deployed)", "app_no_pyc", "floor"),
        row("  import jwt (PyJWT 2.15.1; information only)", "jwt", "floor"),
        row("import Powertools JWTVerifier (auth_alpha.jwt)", "powertools", "floor"),
        row("floor: process start → discovery + JWKS over TLS (urllib.request)", "floor_fetch", "floor_fetch"),
        row("process start → first decision, ours (discovery + JWKS over TLS)", "first", "floor_fetch", 1.2),
        row("  first decision, our modules without .pyc (as deployed)", "first_no_pyc", "floor_fetch"),
        _faster_row(
            "process start → first verified token, Powertools JWTVerifier",
            samples["powertools_first"],
            ratio("powertools_first", "first"),
            ratio("powertools_first", "floor_fetch"),
            "ms",
            1.5,
        ),
        Row("peak memory (ru_maxrss), floor process + the two fetches", rss["floor_fetch"], None, "MB", 1.0),
        Row("peak memory, ours to the first decision", rss["first"], None, "MB", rss["first"] / rss["floor_fetch"]),
        Row(
            "peak memory, Powertools to the first verified token",
            rss["powertools_first"],
            None,
            "MB",
            rss["powertools_first"] / rss["floor_fetch"],
        ),
    ]


# ---------------------------------------------------------------------------- local gateway
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
    from devkit.local.serve import LocalStack  # waitress and the gateway: this process (.venv) only

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
            connection = http.client.HTTPConnection(host, port, timeout=30)
            samples: list[float] = []
            started = time.perf_counter()
            for i in range(requests_per_route):
                headers = {} if token_for(i) is None else {"Authorization": f"Bearer {token_for(i)}"}
                t0 = time.perf_counter_ns()
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                samples.append((time.perf_counter_ns() - t0) / 1e6)
                if response.status != 200:
                    raise SystemExit(f"bench: {path} answered {response.status}")
            rps = requests_per_route / (time.perf_counter() - started)
            connection.close()
            p50 = statistics.median(samples)
            goal = "p50 < 5 ms" if "new token" in name else ""
            rows.append(
                Row(
                    f"{name}: {rps:,.0f} req/s",
                    p50,
                    percentile(samples, 0.99),
                    "ms",
                    None,
                    goal,
                    p50 < 5 if goal else None,
                )
            )
    finally:
        stack.close()
    return rows


# ---------------------------------------------------------------------------- package size
# What the authorizer shipped before its verifier moved onto cryptography alone.
PREVIOUS_EXTRA = "PyJWT==2.15.1"


def package_sizes() -> list[Row]:
    rows = []
    packages = (
        ("AuthorizerFunction", "authorizer", "", "AuthorizerFunction package"),
        (
            "AuthorizerFunction",
            "authorizer",
            PREVIOUS_EXTRA,
            f"  previous AuthorizerFunction package (+ {PREVIOUS_EXTRA})",
        ),
        ("TestRouteFunction", "test_route", "", "TestRouteFunction package"),
    )
    for function, source, extra, label in packages:
        with tempfile.TemporaryDirectory() as scratch:
            # What sam build puts in the artifact: the code plus pip's install of requirements.txt.
            where = Path(scratch) / function
            if not _pip_target(ROOT / "src" / source, where, extra):
                rows.append(Row(f"{label}: n/a (pip could not fetch the wheels)", 0, None, ""))
                continue
            unzipped, zipped = _sizes(where)
        rows.append(Row(f"{label} (arm64, cp313 wheels), zipped", zipped / 1e3, None, "kB"))
        rows.append(Row(f"{label}, unzipped (limit 250 MB)", unzipped / 1e3, None, "kB"))
    return rows


def _pip_target(source: Path, target: Path, extra: str = "") -> bool:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    wanted = (source / "requirements.txt").read_text()
    lines = [line for line in [*wanted.splitlines(), extra] if line.strip() and not line.startswith("#")]
    if not lines:
        return True
    requirements = target.parent / "requirements.txt"
    requirements.write_text("\n".join(lines) + "\n")
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "-r", str(requirements)]
    argv += ["--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.13"]
    argv += ["--only-binary=:all:", "--no-deps"]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def _sizes(directory: Path) -> tuple[int, int]:
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                unzipped += path.stat().st_size
                archive.write(path, path.relative_to(directory))
    return unzipped, len(buffer.getvalue())


# ---------------------------------------------------------------------------- report
MACHINE_PROBE = """
import json, platform, ssl
import aws_lambda_powertools, awslambdaric, cryptography
from cryptography.hazmat.backends.openssl.backend import backend
print(json.dumps({
    "python": platform.python_version(),
    "versions": f"cryptography {cryptography.__version__} ({backend.openssl_version_text()}), "
    f"Powertools {aws_lambda_powertools.__version__}, awslambdaric {awslambdaric.__version__}",
}))
"""


def machine(python: Path | None) -> str:
    line = f"machine: {platform.platform()}, {os.cpu_count()} CPUs; bench Python {platform.python_version()} (.venv)"
    if python is None:
        return line
    done = subprocess.run([str(python), "-c", MACHINE_PROBE], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench: {python} lacks a piece of requirements-bench.txt: {done.stderr.strip()[-300:]}")
    found = json.loads(done.stdout)
    return f"{line}; measured with Python {found['python']} ({python.parent.parent.name}): {found['versions']}"


def render(sections: list[tuple[str, list[Row]]]) -> str:
    lines = ["| measurement | median | p99 | x floor | goal |", "|---|---|---|---|---|"]
    for title, rows in sections:
        lines.append(f"| **{title}** | | | | |")
        for row in rows:
            p99 = "" if row.p99 is None else f"{row.p99:,.1f} {row.unit}"
            ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
            goal = "" if not row.goal else f"{row.goal} {'✅' if row.met else '❌'}"
            if row.moonshot is not None and row.ratio is not None:
                goal += f" (moonshot ≤ {row.moonshot}x: {'met' if row.ratio <= row.moonshot else 'not met'})"
            median = f"{row.median:,.1f} {row.unit}".strip() if row.unit else f"{row.median:g}"
            lines.append(f"| {row.name} | {median} | {p99} | {ratio} | {goal} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of warm measurements (default 5)")
    parser.add_argument("--per-round", type=int, default=2000, help="decisions per round and kind (default 2000)")
    parser.add_argument("--cold-runs", type=int, default=15, help="fresh processes per cold figure (min 15)")
    parser.add_argument("--gateway-requests", type=int, default=500, help="requests per route type")
    parser.add_argument("--profile", action="store_true", help="also print a profile of unique-token decisions")
    parser.add_argument(
        "--bench-python",
        type=Path,
        default=BENCH_PYTHON,
        help="interpreter of .venv-bench (authorizer pins, Powertools, awslambdaric); make bench creates it",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="allow tiny counts (for the tests: every row, figures meaningless)"
    )
    parser.add_argument("--warm-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--only", action="append", choices=["warm", "cold", "gateway", "packages"], help="run only these parts"
    )
    args = parser.parse_args(argv)
    if args.warm_child:
        return warm_child()
    parts = set(args.only or ["warm", "cold", "gateway", "packages"])
    if args.rounds < 1 or args.per_round < 1 or args.cold_runs < 1:
        parser.error("use at least 1 round, 1 decision per round and 1 cold run")
    if not args.smoke and (args.cold_runs < 15 or args.per_round < 100):
        parser.error("use at least 15 cold runs, 1 round and 100 decisions per round")
    python: Path | None = None
    if parts & {"warm", "cold"}:
        python = args.bench_python if args.bench_python.is_absolute() else ROOT / args.bench_python
        if not python.exists():
            parser.error(f"{args.bench_python} not found: `make bench` creates .venv-bench (requirements-bench.txt)")

    sections = []
    header = machine(python)
    if python is not None:
        tls = TlsIssuer()
        try:
            if "warm" in parts:
                sections.append(warm(tls, python, args.rounds, args.per_round, args.profile))
            if "cold" in parts:
                sections.append(
                    ("Cold start (fresh processes, whole-process wall time)", cold(tls, python, args.cold_runs))
                )
        finally:
            tls.close()
    if "gateway" in parts:
        sections.append(("Local gateway over loopback (sequential, keep-alive)", gateway(args.gateway_requests)))
    if "packages" in parts:
        sections.append(("Deployment packages", package_sizes()))
    print(header)
    print()
    print(render(sections))
    missed = [row.name for _, rows in sections for row in rows if row.met is False]
    if missed:
        print(f"\ngoals missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
