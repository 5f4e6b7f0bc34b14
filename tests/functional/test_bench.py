"""make bench keeps working: a short run prints every row of the table.

Whether the goals are met is the benchmark's own verdict on a quiet machine; a test cannot
judge speed on a shared CI runner, so it checks that each figure is measured and reported
(``--smoke`` allows counts too small to mean anything, so that this stays fast).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devkit.bench.report import paired_ratio, rotated
from tests.support import ROOT

ENV = dict(os.environ)
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
# The warm and cold parts measure Powertools and awslambdaric's log handler, which live only there.
needs_bench_venv = pytest.mark.skipif(
    not BENCH_PYTHON.exists(),
    reason=".venv-bench is absent (`make bench` creates it from requirements-bench.txt): "
    "the warm and cold rows need Powertools and awslambdaric",
)


def bench(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "devkit.bench", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: a goal missed on this (noisy) run
    return done.stdout


def table_rows(table: str) -> dict[str, list[str]]:
    """Each measurement row's cells by name (section titles and the header left out)."""
    rows = {}
    for line in table.splitlines():
        if line.startswith("| ") and "**" not in line and not line.startswith("| measurement"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            rows[cells[0]] = cells
    return rows


def assert_reported(rows: dict[str, list[str]], expected: list[str]) -> None:
    """Every expected row is there (by name, or name prefix before a count), with its figure."""
    names = list(rows)
    for wanted in expected:
        found = [name for name in names if name == wanted or name.startswith(wanted)]
        assert len(found) == 1, f"row {wanted!r} missing or ambiguous in {names}"
        cells = rows[found[0]]
        assert cells[1], f"row {wanted!r} has no figure"
        goal = cells[4] if len(cells) > 4 else ""
        assert not goal or "✅" in goal or "❌" in goal, f"row {wanted!r}: goal without a verdict"
    assert len(names) == len(expected), f"unexpected rows: {names}"


@needs_bench_venv
def test_warm_rows_are_reported_with_ratios_to_the_floor_and_powertools_beside():
    table = bench("--only", "warm", "--rounds", "2", "--per-round", "20", "--smoke")
    assert table.startswith("machine: ") and "CPUs" in table.splitlines()[0] and "Powertools 3.37.0" in table
    assert "decision line by awslambdaric" in table  # the runtime's own JSON formatter, named
    assert "**Warm decisions, an ES256 issuer (ALLOWED_ALGORITHMS=ES256;" in table
    assert "**Warm decisions, an EdDSA issuer (ALLOWED_ALGORITHMS=EdDSA;" in table
    rows = table_rows(table)
    assert_reported(
        rows,
        [
            "floor: RSA-2048",
            "handler end to end, unique valid tokens, decision line written as JSON",
            "same, decision line below INFO",
            "Powertools JWTVerifier.verify, unique tokens (keys cached) vs ours, line below INFO",
            "Powertools verify ÷ our handler with the line written as JSON",
            "handler end to end, one repeated token, decision line written as JSON",
            "same, no root handler",
            "decision, one repeated token (decide",
            "decision lines the runtime's handler wrote, of 80",
            "JWKS fetches for 201 decisions",
            "floor: ECDSA P-256 SHA-256 verify, signature converted to DER beforehand",
            "handler end to end, unique valid ES256 tokens, decision line written as JSON",
            "ES256: decision lines the runtime's handler wrote, of 40",
            "ES256: JWKS fetches for 41 decisions (ours)",
            "floor: Ed25519 verify",
            "handler end to end, unique valid EdDSA tokens, decision line written as JSON",
            "EdDSA: decision lines the runtime's handler wrote, of 40",
            "EdDSA: JWKS fetches for 41 decisions (ours)",
        ],
    )
    for name, cells in rows.items():
        if name.startswith("floor: "):
            assert cells[3] == "1.00x", cells
    assert "moonshot ≤ 2.0x" in rows["handler end to end, unique valid tokens, decision line written as JSON"][4]
    assert "ours ≥ 3.0x faster" in next(cells[4] for name, cells in rows.items() if name.startswith("Powertools"))
    # Every decision's line reached the runtime's handler, and the keys were fetched once.
    assert rows["decision lines the runtime's handler wrote, of 80"][1:2] == ["80"]
    assert rows["JWKS fetches for 201 decisions (ours)"][1] == "1"
    for name in ("ES256", "EdDSA"):
        handler = rows[f"handler end to end, unique valid {name} tokens, decision line written as JSON"]
        assert handler[3].endswith("x") and "≤ 3.0x" in handler[4], handler
        assert rows[f"{name}: decision lines the runtime's handler wrote, of 40"][1] == "40"
        assert rows[f"{name}: JWKS fetches for 41 decisions (ours)"][1] == "1"


@needs_bench_venv
def test_cold_rows_are_reported_against_both_floor_processes():
    rows = table_rows(bench("--only", "cold", "--cold-runs", "2", "--smoke"))
    assert_reported(
        rows,
        [
            "floor process: stdlib + cryptography RSA imports",
            "import the authorizer (app), whole process",
            "import, our modules without .pyc (as deployed)",
            "import jwt",
            "import Powertools JWTVerifier",
            "floor process, ES256: stdlib + cryptography EC imports, ECDSA(SHA256()) made",
            "import the authorizer (app), ES256 configuration (ALLOWED_ALGORITHMS=ES256)",
            "floor: process start → discovery + JWKS over TLS",
            "process start → first decision, ours",
            "first decision, our modules without .pyc (as deployed)",
            "process start → first verified token, Powertools",
            "peak memory (ru_maxrss), floor process",
            "peak memory, ours",
            "peak memory, Powertools",
            "floor process, the MCP function's neighbour: import the test route function (app)",
            "import the MCP function (app; the MCP SDK not yet loaded)",
            "process start → first metadata answer, MCP function",
            "process start → first tools/call whoami",
            "peak memory, MCP function to its first tools/call",
        ],
    )
    for cells in rows.values():
        assert cells[3].endswith("x"), f"row {cells[0]!r} lacks its ratio to a floor of this run"
    assert "≤ 1.15x" in rows["import the authorizer (app), whole process"][4]
    assert "≤ 1.15x" in rows["import the authorizer (app), ES256 configuration (ALLOWED_ALGORITHMS=ES256)"][4]
    assert "≤ 1.2x" in rows["process start → first decision, ours (discovery + JWKS over TLS)"][4]
    assert "ours ≥ 1.5x faster" in rows["process start → first verified token, Powertools JWTVerifier"][4]
    assert "≤ 3.0x" in rows["import the MCP function (app; the MCP SDK not yet loaded)"][4]
    assert "≤ 3.0x" in rows["process start → first metadata answer, MCP function"][4]


def test_gateway_rows_are_reported():
    rows = table_rows(bench("--only", "gateway", "--gateway-requests", "20", "--smoke"))
    assert_reported(
        rows,
        [
            "public route (/health): ",
            "built-in JWT authorizer emulation (/test): ",
            "Lambda authorizer, cached answer (/lambda/test): ",
            "Lambda authorizer, new token each request: ",
        ],
    )
    for name, cells in rows.items():
        assert name.endswith(" req/s") and cells[1].endswith(" ms") and cells[2].endswith(" ms"), cells
    new_token = next(cells for name, cells in rows.items() if name.startswith("Lambda authorizer, new token"))
    assert "p50 < 5 ms" in new_token[4]


def kilobytes(cell: str) -> float:
    return float(cell.removesuffix(" kB").replace(",", ""))


def test_package_rows_show_the_package_now_and_the_one_before():
    # Each row either has its size or says why not (pip could not fetch the arm64 wheels).
    rows = table_rows(bench("--only", "packages"))
    for label in (
        "AuthorizerFunction package",
        "previous AuthorizerFunction package (+ PyJWT==2.15.1)",
        "TestRouteFunction package",
        "McpServerFunction package",
    ):
        found = [name for name in rows if name.startswith(label)]
        assert found, f"{label!r} missing in {list(rows)}"
        if any("n/a" in name for name in found):
            continue
        sizes = {name: kilobytes(rows[name][1]) for name in found}
        assert len(sizes) == 2 and all(size > 0 for size in sizes.values()), sizes  # zipped and unzipped
        zipped = next(size for name, size in sizes.items() if name.endswith(", zipped"))
        assert zipped < max(sizes.values()), sizes
    # Leaving PyJWT out makes the authorizer's package smaller, unless pip could fetch neither.
    now = rows.get("AuthorizerFunction package (arm64, cp313 wheels), zipped")
    before = rows.get("previous AuthorizerFunction package (+ PyJWT==2.15.1) (arm64, cp313 wheels), zipped")
    if now and before:
        assert kilobytes(now[1]) < kilobytes(before[1])


def test_bad_arguments_are_one_clear_line():
    done = subprocess.run(
        [sys.executable, "-m", "devkit.bench", "--cold-runs", "3"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "use at least 15 cold runs" in done.stderr.strip().splitlines()[-1]


def test_a_missing_bench_environment_says_how_to_make_it():
    done = subprocess.run(
        [sys.executable, "-m", "devkit.bench", "--only", "cold", "--bench-python", "/nonexistent/python"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "`make bench` creates .venv-bench" in done.stderr.strip().splitlines()[-1]


def test_a_ratio_divides_each_block_by_the_floor_block_beside_it():
    # Block 2 ran in a neighbour's burst (both sides slower); block 3's figure alone was slow.
    figures, floors = [3.0, 30.0, 4.0], [1.0, 10.0, 2.0]
    assert paired_ratio(figures, floors) == 3.0  # the medians' ratio would say 4 / 2 = 2
    with pytest.raises(ValueError, match="one floor per figure"):
        paired_ratio(figures, floors[:2])


def test_each_pass_takes_each_place_in_turn():
    passes = ["floor", "ours", "peer"]
    orders = [rotated(passes, turn) for turn in range(3)]
    assert {order[0] for order in orders} == set(passes)
    assert all(sorted(order) == sorted(passes) for order in orders)
