"""Cold start: fresh .venv-bench processes, whole-process wall time and peak memory, by kind.

Each kind of process runs once per turn, the kinds in an order that moves each turn, and a
ratio is the median over turns of a process's time over its floor process of the same turn.
Every process starts in the function's code directory (Lambda's ``/var/task``), where
``import app`` finds the handler and its package, with nothing added to its path.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devkit.bench import AUTHORIZER, EVENTS, MCP_SERVER, TEST_ROUTE
from devkit.bench.issuer import Issuers
from devkit.bench.report import Row, faster_row, paired_ratio, ratio_row, rotated

# The MCP function's INIT and its metadata answer, over the test route's import: a goal that
# fails if the MCP SDK (~30x the floor) is ever imported before a POST /mcp needs it.
MCP_INIT_GOAL = 3.0
# What any verifier of RS256 tokens fetched over HTTPS must import at the least.
FLOOR_IMPORTS = (
    "import urllib.request, ssl, json, hashlib, base64, logging; "
    "from cryptography.hazmat.primitives.asymmetric import rsa, padding; "
    "from cryptography.hazmat.primitives import hashes"
)
# The same for ES256: cryptography's EC primitives instead of RSA's, and the helper that turns
# a JWS signature (R || S) into the DER that cryptography verifies. ECDSA(...) is made too: no
# ECDSA verify can do without one, and its constructor imports cryptography's OpenSSL backend
# (a few ms), which RSA's padding and hash objects do not.
FLOOR_IMPORTS_EC = (
    "import urllib.request, ssl, json, hashlib, base64, logging; "
    "from cryptography.hazmat.primitives.asymmetric import ec, utils; "
    "from cryptography.hazmat.primitives import hashes; "
    "ec.ECDSA(hashes.SHA256())"
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
# The MCP function (src/mcp_server) from a fresh process: its public metadata, then whoami
# through the SDK, with the sample events; each must answer 200.
MCP_ANSWER = """
import json, sys
import app
event = json.load(open(sys.argv[1]))
print(json.dumps({"ok": app.lambda_handler(event, None)["statusCode"] == 200}))
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


def cold(issuers: Issuers, python: Path, runs: int) -> list[Row]:
    _compile(python)
    with tempfile.TemporaryDirectory() as scratch:
        # As deployed: our modules without .pyc (the code directory is read-only in Lambda),
        # dependencies with the .pyc pip wrote when it installed them.
        plain = Path(scratch) / "authorizer"
        shutil.copytree(AUTHORIZER, plain, ignore=shutil.ignore_patterns("__pycache__", "requirements.txt"))
        probes = _probes(issuers, str(python), plain)
        print(f"cold start: {len(probes)} kinds of process x {runs} runs, interleaved ...", file=sys.stderr, flush=True)
        samples, memory = _run(probes, issuers, python, runs)
    return _cold_rows(samples, memory, runs)


def _compile(python: Path) -> None:
    """Write our modules' .pyc now: the rows "with .pyc" must not depend on the shell's settings.

    A process does not write them when its environment says not to (PYTHONDONTWRITEBYTECODE,
    which some shells and containers set), and every import would then compile the source.
    """
    for code in (AUTHORIZER, MCP_SERVER, TEST_ROUTE):
        done = subprocess.run([str(python), "-m", "compileall", "-q", str(code)], capture_output=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"bench: could not compile {code}: {done.stdout.decode()[-300:]}")


def _probes(issuers: Issuers, py: str, plain: Path) -> dict[str, Probe]:
    env, es256 = issuers["RS256"].env(), issuers["ES256"].env()
    return {
        "floor": Probe([py, "-c", FLOOR_IMPORTS], env, AUTHORIZER),
        "app": Probe([py, "-c", "import app"], env, AUTHORIZER),
        "app_no_pyc": Probe([py, "-B", "-c", "import app"], env, plain),
        "jwt": Probe([py, "-c", "import jwt"], env, AUTHORIZER),
        "powertools": Probe([py, "-c", POWERTOOLS_IMPORT], env, AUTHORIZER),
        "floor_ec": Probe([py, "-c", FLOOR_IMPORTS_EC], es256, AUTHORIZER),
        "app_es256": Probe([py, "-c", "import app"], es256, AUTHORIZER),
        "floor_fetch": Probe([py, "-c", FLOOR_FETCH], env, AUTHORIZER, decides=True),
        "first": Probe([py, "-c", OUR_FIRST], env, AUTHORIZER, decides=True),
        "first_no_pyc": Probe([py, "-B", "-c", OUR_FIRST], env, plain, decides=True),
        "powertools_first": Probe([py, "-c", POWERTOOLS_FIRST], env, AUTHORIZER, decides=True),
        "route": Probe([py, "-c", "import app"], env, TEST_ROUTE),
        "mcp": Probe([py, "-c", "import app"], env, MCP_SERVER),
        "mcp_metadata": Probe([py, "-c", MCP_ANSWER, str(EVENTS / "mcp-metadata.json")], env, MCP_SERVER, True),
        "mcp_first": Probe([py, "-c", MCP_ANSWER, str(EVENTS / "mcp-tools-call.json")], env, MCP_SERVER, True),
    }


def _run(
    probes: dict[str, Probe], issuers: Issuers, python: Path, runs: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each kind's wall times and peak memory by turn: ``samples[kind][t]`` ran in turn ``t``."""
    samples: dict[str, list[float]] = {}
    memory: dict[str, list[float]] = {}
    order = list(probes)
    spawner = Spawner(python)
    try:
        for turn in range(-1, runs):  # turn -1 warms the page cache; not timed
            token = issuers["RS256"].issuer.mint(scopes=["read:test"])  # one per run: ours and Powertools verify it
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
    return samples, memory


def _cold_rows(samples: dict[str, list[float]], memory: dict[str, list[float]], runs: int) -> list[Row]:
    # samples[name][t] is turn t's process of that kind: the kinds of one turn ran side by side.
    def ratio(key: str, floor: str) -> float:
        return paired_ratio(samples[key], samples[floor])

    def row(name: str, key: str, floor: str, goal: float | None = None) -> Row:
        return ratio_row(name, samples[key], ratio(key, floor), "ms", goal)

    rss = {name: statistics.median(values) for name, values in memory.items()}
    return [
        row(f"floor process: stdlib + cryptography RSA imports (median of {runs})", "floor", "floor"),
        row("import the authorizer (app), whole process", "app", "floor", 1.15),
        row("  import, our modules without .pyc (as deployed)", "app_no_pyc", "floor"),
        row("  import jwt (PyJWT 2.15.1; information only)", "jwt", "floor"),
        row("import Powertools JWTVerifier (auth_alpha.jwt)", "powertools", "floor"),
        row("floor process, ES256: stdlib + cryptography EC imports, ECDSA(SHA256()) made", "floor_ec", "floor_ec"),
        row(
            "import the authorizer (app), ES256 configuration (ALLOWED_ALGORITHMS=ES256)", "app_es256", "floor_ec", 1.15
        ),
        row("floor: process start → discovery + JWKS over TLS (urllib.request)", "floor_fetch", "floor_fetch"),
        row("process start → first decision, ours (discovery + JWKS over TLS)", "first", "floor_fetch", 1.2),
        row("  first decision, our modules without .pyc (as deployed)", "first_no_pyc", "floor_fetch"),
        faster_row(
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
        row("floor process, the MCP function's neighbour: import the test route function (app)", "route", "route"),
        # The SDK waits for the first POST /mcp: INIT and the public metadata stay near the floor.
        row("import the MCP function (app; the MCP SDK not yet loaded)", "mcp", "route", MCP_INIT_GOAL),
        row("process start → first metadata answer, MCP function", "mcp_metadata", "route", MCP_INIT_GOAL),
        row("process start → first tools/call whoami (the MCP SDK loaded; information)", "mcp_first", "route"),
        Row(
            "peak memory, MCP function to its first tools/call (x the test route's import)",
            rss["mcp_first"],
            None,
            "MB",
            rss["mcp_first"] / rss["route"],
        ),
    ]
