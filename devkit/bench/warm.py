"""Warm decisions: the handler, the decision and Powertools' verify against a bare cryptography verify.

This process (``.venv``, PyJWT) mints the tokens; one ``.venv-bench`` process per algorithm
(``python -m devkit.bench.warm``, in the function's code directory) measures them, with
Lambda's runtime logging, and answers its rows as JSON. RS256 gets every pass; ES256 and EdDSA
(each an issuer of its own and ``ALLOWED_ALGORITHMS`` set to it) the handler with its decision
line written, against their own floor.

The child's imports stay within .venv-bench (the stdlib, cryptography, ``devkit.bench.report``).
"""

from __future__ import annotations

import base64
import cProfile
import dataclasses
import importlib
import io
import json
import logging
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from devkit.bench import AUTHORIZER, ROOT
from devkit.bench.report import Row, count_row, faster_row, paired_ratio, percentile, ratio_row, rotated

if TYPE_CHECKING:
    from devkit.bench.issuer import TlsIssuer

EVENT = json.loads((ROOT / "events" / "authorizer-v2-valid.json").read_text())
ROUTE = "GET /lambda/test"
# Calls per block (100 to 199 when --per-round is not a multiple): enough for a stable block
# median, few enough that a floor block and the blocks paired with it run tens of ms apart.
BLOCK = 100
# What the template's LoggingConfig sets (LogFormat JSON, ApplicationLogLevel INFO).
RUNTIME_LOG_LEVEL = "INFO"
# Algorithm -> what its floor does: one bare cryptography verify, nothing a JWS adds around it.
FLOORS = {
    "RS256": "RSA-2048 PKCS#1 v1.5 SHA-256 verify",
    # A JWS carries R || S (P1363); cryptography verifies DER. The conversion is the verifier's
    # own work, so the floor gets its signatures converted beforehand.
    "ES256": "ECDSA P-256 SHA-256 verify, signature converted to DER beforehand",
    "EdDSA": "Ed25519 verify",
}
# Algorithms measured with the handler against their floor only, beside RS256's every pass.
OTHER_ALGORITHMS = ("ES256", "EdDSA")
UNIQUE_GOAL = 3.0


# ---------------------------------------------------------------------------- this process
def warm(issuer: TlsIssuer, python: Path, rounds: int, per_round: int, profile: bool) -> tuple[str, list[Row]]:
    """RS256: every warm pass, Powertools beside; the section's title and rows."""
    mint = _minter(issuer)
    print(f"minting {rounds * (2 * per_round + 1) + 1} tokens ...", file=sys.stderr, flush=True)
    request = {
        "first": mint(),
        "rounds": [[mint() for _ in range(per_round)] for _ in range(rounds)],
        # More unique tokens for the pass with the line below INFO (the first set is cached by then).
        "rounds_below_info": [[mint() for _ in range(per_round)] for _ in range(rounds)],
        # A token of its own per round: none of the unique tokens is ever a cache hit.
        "repeated": [mint() for _ in range(rounds)],
        "profile": [mint() for _ in range(per_round)] if profile else [],
    }
    answer, rows = _measure(issuer, python, request)
    return f"Warm decisions (one process; decision line by {answer['formatter']})", rows


def warm_algorithm(issuer: TlsIssuer, python: Path, rounds: int, per_round: int) -> tuple[str, list[Row]]:
    """Another algorithm's issuer: unique tokens through the handler vs that algorithm's floor."""
    mint = _minter(issuer)
    print(f"minting {rounds * per_round + 1} {issuer.algorithm} tokens ...", file=sys.stderr, flush=True)
    request = {"first": mint(), "rounds": [[mint() for _ in range(per_round)] for _ in range(rounds)]}
    _, rows = _measure(issuer, python, request)
    algorithm = issuer.algorithm
    return f"Warm decisions, an {algorithm} issuer (ALLOWED_ALGORITHMS={algorithm}; one process, line as above)", rows


def _minter(issuer: TlsIssuer) -> Callable[[], str]:
    return lambda: issuer.issuer.mint(scopes=["read:test"])


def _measure(issuer: TlsIssuer, python: Path, request: dict[str, Any]) -> tuple[dict[str, Any], list[Row]]:
    """Run one child on ``request``; its answer, and its rows with the JWKS fetches counted here."""
    public_key = issuer.issuer.key.public_key()
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    before = issuer.fetches()
    done = subprocess.run(
        [str(python), "-m", "devkit.bench.warm"],
        input=json.dumps({**request, "algorithm": issuer.algorithm, "public_key": pem.decode()}),
        env=issuer.env(),
        cwd=AUTHORIZER,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: the {issuer.algorithm} warm measurements failed (exit {done.returncode}); see above")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [Row(**row) for row in answer["rows"]]
    ours = issuer.fetches()["ours"] - before["ours"]
    prefix = "" if issuer.algorithm == "RS256" else f"{issuer.algorithm}: "
    rows.append(count_row(f"{prefix}JWKS fetches for {answer['decisions']} decisions (ours)", ours, 1))
    return answer, rows


# ---------------------------------------------------------------------------- the child
def child() -> int:
    """The warm measurements, run in .venv-bench: the request on stdin, the rows on stdout."""
    request = json.loads(sys.stdin.read())
    algorithm = request["algorithm"]
    public_key = serialization.load_pem_public_key(request["public_key"].encode())
    with tempfile.TemporaryDirectory() as scratch:
        sink_path = Path(scratch) / "telemetry"
        formatter = _runtime_logging(sink_path)
        # After the runtime's logging, as in Lambda: the runtime sets it up, then imports the handler.
        import app

        powertools = _powertools() if algorithm == "RS256" else None
        # The first decision fetches discovery + JWKS; Powertools' first verify fetches its own.
        if not app.lambda_handler(v2_event(request["first"]), None)["isAuthorized"]:
            raise SystemExit("bench: the authorizer denied a valid token; check ISSUER/AUDIENCE")
        passes = _WarmPasses(app, floor_verify(algorithm, public_key), algorithm, sink_path)
        if powertools is not None:
            powertools.verify(request["first"])
            rounds = zip(request["rounds"], request["repeated"], request["rounds_below_info"], strict=True)
            for turn, (tokens, again, others) in enumerate(rounds):
                passes.take_turns(turn, passes.every_pass(powertools, tokens, again, others))
            rows, decisions = passes.rs256_rows()
        else:
            for turn, tokens in enumerate(request["rounds"]):
                passes.take_turns(turn, passes.handler_only(tokens))
            rows, decisions = passes.algorithm_rows()
        if request.get("profile"):
            _profile(app, [v2_event(token) for token in request["profile"]])
    print(
        json.dumps({"rows": [dataclasses.asdict(row) for row in rows], "decisions": decisions, "formatter": formatter})
    )
    return 0


def v2_event(token: str) -> dict[str, Any]:
    event = json.loads(json.dumps(EVENT))
    event["headers"]["authorization"] = f"Bearer {token}"
    event["identitySource"] = [f"Bearer {token}", event["routeKey"]]
    return event


def floor_verify(algorithm: str, key: Any) -> Callable[[tuple[bytes, bytes]], None]:
    """The floor: cryptography's verify of (signing input, signature in the form it takes)."""
    if algorithm == "RS256" and isinstance(key, RSAPublicKey):
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        return lambda signed: key.verify(signed[1], signed[0], pkcs1, sha256)
    if algorithm == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
        ecdsa = ec.ECDSA(hashes.SHA256())
        return lambda signed: key.verify(signed[1], signed[0], ecdsa)
    if algorithm == "EdDSA" and isinstance(key, Ed25519PublicKey):
        return lambda signed: key.verify(signed[1], signed[0])
    raise SystemExit(f"bench: no floor for {algorithm} with a {type(key).__name__}")


def floor_inputs(algorithm: str, tokens: Iterable[str]) -> list[tuple[bytes, bytes]]:
    """Each token's signing input and signature, ES256's already in DER (RFC 7518 3.4's R || S)."""
    signed = []
    for token in tokens:
        head, body, sig = token.split(".")
        signature = _b64(sig)
        if algorithm == "ES256":
            half = len(signature) // 2
            r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            signature = encode_dss_signature(r, s)
        signed.append((f"{head}.{body}".encode(), signature))
    return signed


def _powertools() -> Any:
    verifier_module: Any = importlib.import_module("aws_lambda_powertools.utilities.auth_alpha.jwt")
    return verifier_module.JWTVerifier(
        issuer=os.environ["ISSUER"], audience=os.environ["AUDIENCE"].split(","), algorithms=["RS256"]
    )


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


def per_call_us(call: Callable[[Any], Any], inputs: Iterable[Any]) -> list[float]:
    """Wall time of each call in microseconds (the timer's own cost is in every figure alike)."""
    clock = time.perf_counter_ns
    samples = []
    for item in inputs:
        started = clock()
        call(item)
        samples.append((clock() - started) / 1000)
    return samples


# A pass: how to run it (timed, logged, ...), its kind, the call, and its inputs for a round.
Pass = tuple[Callable[[str, Callable[[Any], None], list[Any]], None], str, Callable[[Any], None], list[Any]]


class _WarmPasses:
    """The warm passes of one process: the floor, ours and Powertools on the same tokens, by round."""

    def __init__(self, app: Any, floor: Callable[[tuple[bytes, bytes]], None], algorithm: str, sink: Path) -> None:
        self.app = app
        self.floor = floor
        self.algorithm = algorithm
        self.sink_path = sink
        self.root = logging.getLogger()
        self.runtime_handlers = list(self.root.handlers)
        kinds = ("floor", "unique", "below_info", "powertools", "repeated", "quiet", "decide")
        self.samples: dict[str, list[float]] = {kind: [] for kind in kinds}
        # Each block's median, in the order the blocks ran: what the paired ratios divide.
        self.by_block: dict[str, list[float]] = {kind: [] for kind in kinds}
        self.answers: list[bool] = []
        self.written = self.expected = 0

    def handle(self, event: dict[str, Any]) -> None:
        self.answers.append(self.app.lambda_handler(event, None)["isAuthorized"])

    def decide(self, header: str) -> None:
        self.answers.append(self.app.AUTHORIZER.decide(header, ROUTE).allowed)

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

    def every_pass(self, powertools: Any, tokens: list[str], again: str, others: list[str]) -> list[Pass]:
        """RS256's passes: the floor, ours four ways, and Powertools' verify."""

        def verify(token: str) -> None:
            self.answers.append(bool(powertools.verify(token).get("sub")))

        return [
            (self.timed, "floor", self.floor, floor_inputs(self.algorithm, tokens)),
            (self.logged, "unique", self.handle, [v2_event(t) for t in tokens]),
            (self.below_info, "below_info", self.handle, [v2_event(t) for t in others]),
            (self.timed, "powertools", verify, tokens),
            (self.logged, "repeated", self.handle, [v2_event(again)] * len(tokens)),
            (self.quiet, "quiet", self.handle, [v2_event(again)] * len(tokens)),
            (self.timed, "decide", self.decide, [f"Bearer {again}"] * len(tokens)),
        ]

    def handler_only(self, tokens: list[str]) -> list[Pass]:
        """Another algorithm's passes: its floor, and unique tokens through the handler, line written."""
        return [
            (self.timed, "floor", self.floor, floor_inputs(self.algorithm, tokens)),
            (self.logged, "unique", self.handle, [v2_event(t) for t in tokens]),
        ]

    def take_turns(self, turn: int, passes: list[Pass]) -> None:
        # The floor and each peer take turns, block by block, in an order that moves each time.
        size = len(passes[0][3])
        blocks = max(1, size // BLOCK)
        for block in range(blocks):
            for run, kind, call, inputs in rotated(passes, turn * blocks + block):
                run(kind, call, inputs[block * len(inputs) // blocks : (block + 1) * len(inputs) // blocks])

    def _checked(self) -> None:
        if not all(self.answers):
            raise SystemExit("bench: a valid token was denied; the figures would mean nothing")

    def _floor_row(self) -> Row:
        floor = self.samples["floor"]
        return Row(f"floor: {FLOORS[self.algorithm]}", statistics.median(floor), percentile(floor, 0.99), "µs", 1.0)

    def rs256_rows(self) -> tuple[list[Row], int]:
        self._checked()
        samples, ratio = self.samples, self.ratio
        rows = [
            self._floor_row(),
            ratio_row(
                "handler end to end, unique valid tokens, decision line written as JSON",
                samples["unique"],
                ratio("unique"),
                "µs",
                UNIQUE_GOAL,
                2.0,
            ),
            ratio_row(
                "  same, decision line below INFO (ApplicationLogLevel WARN: no record at all)",
                samples["below_info"],
                ratio("below_info"),
                "µs",
                None,
            ),
            # Powertools' verify writes no line, so it races our handler with the line below INFO.
            faster_row(
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
            ratio_row(
                "handler end to end, one repeated token, decision line written as JSON",
                samples["repeated"],
                ratio("repeated"),
                "µs",
                1.5,
                1.2,
            ),
            ratio_row(
                "  same, no root handler (the line's record made, not written)",
                samples["quiet"],
                ratio("quiet"),
                "µs",
                None,
            ),
            ratio_row(
                "decision, one repeated token (decide: verified-claims cache hit)",
                samples["decide"],
                ratio("decide"),
                "µs",
                0.3,
            ),
            count_row(f"decision lines the runtime's handler wrote, of {self.expected}", self.written, self.expected),
        ]
        # Ours decided the first token, then five kinds of pass per round; Powertools is not counted.
        ours = ("unique", "below_info", "repeated", "quiet", "decide")
        return rows, 1 + sum(len(samples[kind]) for kind in ours)

    def algorithm_rows(self) -> tuple[list[Row], int]:
        self._checked()
        name = self.algorithm
        rows = [
            self._floor_row(),
            ratio_row(
                f"handler end to end, unique valid {name} tokens, decision line written as JSON",
                self.samples["unique"],
                self.ratio("unique"),
                "µs",
                UNIQUE_GOAL,
            ),
            count_row(
                f"{name}: decision lines the runtime's handler wrote, of {self.expected}", self.written, self.expected
            ),
        ]
        return rows, 1 + len(self.samples["unique"])


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


if __name__ == "__main__":
    sys.exit(child())
