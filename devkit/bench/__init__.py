"""``make bench``: the Lambda authorizer against physical floors and Powertools, in one run.

Shared machines are noisy, so every figure is a median (and p99) over several rounds and is
reported as a ratio to a floor measured in the same run, interleaved with what it is compared to.
Within a round the passes take turns in blocks of about ``warm.BLOCK`` calls, and a ratio is
paired: the median, over turns, of a block's median over the median of the floor's block of the
same turn (at most six blocks, a few tens of milliseconds, away). A burst of load from a
neighbour then moves both sides of most pairs, not one side of a whole figure. The parts:

- ``warm``: decisions in one ``.venv-bench`` process per algorithm: the handler end to end
  (event in, response out, its decision line written by awslambdaric's own JSON log handler, as
  Lambda's runtime does with ``LogFormat: JSON``), the decision itself, and Powertools'
  ``JWTVerifier.verify`` on the same tokens, vs a bare ``cryptography`` verify of them;
- ``cold``: fresh ``.venv-bench`` processes, whole-process wall time and peak memory: importing
  the authorizer, PyJWT and Powertools' verifier vs a process importing only the stdlib and
  cryptography's primitives for the same algorithm; process start to the first decision, with
  discovery and JWKS fetched over TLS on 127.0.0.1, vs that process plus the same two fetches,
  and vs Powertools;
- ``gateway``: the local gateway over loopback per route type; ``packages``: the deployment
  packages, now and before;
- ``issuer``: the run's issuers over TLS (``devkit.jwks_server``), ``report``: rows, paired
  ratios and the table; ``__main__``: the command line.

``.venv-bench`` (``make bench`` creates it from requirements-bench.txt, with this project
installed) holds the authorizer's own pins, Powertools and awslambdaric; its processes run in the
function's code directory, as Lambda runs a function in ``/var/task``. This process (``.venv``)
mints tokens and serves the issuers. The exit status is non-zero when a goal is missed.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The function's code directory: the working directory of every .venv-bench process, which
# finds ``app`` and ``jwt_authorizer`` there as Lambda's runtime finds them in /var/task.
AUTHORIZER = ROOT / "src" / "authorizer"
# The other functions' code directories, for their cold-start rows.
MCP_SERVER = ROOT / "src" / "mcp_server"
TEST_ROUTE = ROOT / "src" / "test_route"
EVENTS = ROOT / "events"
