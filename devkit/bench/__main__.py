"""``make bench``: the Lambda authorizer against physical floors and Powertools, in one run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devkit.bench import ROOT
from devkit.bench.cold import cold
from devkit.bench.gateway import gateway
from devkit.bench.issuer import Issuers
from devkit.bench.packages import package_sizes
from devkit.bench.report import Row, machine, missed, render
from devkit.bench.warm import OTHER_ALGORITHMS, warm, warm_algorithm

BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
PARTS = ("warm", "cold", "gateway", "packages")


def parser() -> argparse.ArgumentParser:
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
    parser.add_argument("--only", action="append", choices=PARTS, help="run only these parts")
    return parser


def measured(args: argparse.Namespace, parts: set[str], python: Path | None) -> list[tuple[str, list[Row]]]:
    """Each part's section, in the table's order."""
    sections = []
    if python is not None:
        issuers = Issuers()
        try:
            if "warm" in parts:
                sections.append(warm(issuers["RS256"], python, args.rounds, args.per_round, args.profile))
                for algorithm in OTHER_ALGORITHMS:
                    sections.append(warm_algorithm(issuers[algorithm], python, args.rounds, args.per_round))
            if "cold" in parts:
                sections.append(
                    ("Cold start (fresh processes, whole-process wall time)", cold(issuers, python, args.cold_runs))
                )
        finally:
            issuers.close()
    if "gateway" in parts:
        sections.append(("Local gateway over loopback (sequential, keep-alive)", gateway(args.gateway_requests)))
    if "packages" in parts:
        sections.append(("Deployment packages", package_sizes()))
    return sections


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    parts = set(args.only or PARTS)
    if args.rounds < 1 or args.per_round < 1 or args.cold_runs < 1:
        cli.error("use at least 1 round, 1 decision per round and 1 cold run")
    if not args.smoke and (args.cold_runs < 15 or args.per_round < 100):
        cli.error("use at least 15 cold runs, 1 round and 100 decisions per round")
    python: Path | None = None
    if parts & {"warm", "cold"}:
        python = args.bench_python if args.bench_python.is_absolute() else ROOT / args.bench_python
        if not python.exists():
            cli.error(f"{args.bench_python} not found: `make bench` creates .venv-bench (requirements-bench.txt)")

    header = machine(python)
    sections = measured(args, parts, python)
    print(header)
    print()
    print(render(sections))
    failed = missed(sections)
    if failed:
        print(f"\ngoals missed: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
