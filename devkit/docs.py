"""``make docs``: the parts of docs/ that are generated from the code and the template, written in place.

Each generated block sits between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in its page,
so the prose around it stays hand-written. ``--check`` (run by the tests) fails, naming the
page, when a block differs from what the code says now.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from html import escape
from pathlib import Path

from jwt_authorizer.algorithms import ALGORITHMS, BUILT_IN_ALGORITHMS, DEFAULT_ALGORITHMS
from jwt_authorizer.reasons import reasons_table

ROOT = Path(__file__).resolve().parents[1]
_KEYS = {"RSA": "RSA, 2048 bits or more", "oct": "the shared secret (SSM)"}
_ON_AWS = {
    "yes": "yes",
    "undocumented": "not documented: AWS says RSA-based, shows RS256",
    "no": "no",
}


def algorithms_table() -> str:
    """docs/authorizers.md's table: each algorithm, its keys, and which route verifies it where."""
    rows = ["| `alg` | Keys | `/lambda/test` | `/test` on AWS | `/test` in `make local` |", "|---|---|---|---|---|"]
    for name, algorithm in ALGORITHMS.items():
        keys = _KEYS.get(algorithm.kty) or f"{algorithm.kty} {algorithm.curve}"
        lambda_route = (
            "with `SharedSecretParameter`, and then alone"
            if algorithm.kty == "oct"
            else ("yes (the default)" if name in DEFAULT_ALGORITHMS else "when in `AllowedAlgorithms`")
        )
        local = "yes" if name in BUILT_IN_ALGORITHMS else "401 (`bad_algorithm`)"
        rows.append(f"| {name} | {keys} | {lambda_route} | {_ON_AWS[algorithm.built_in]} | {local} |")
    return "\n".join(rows)


def dashboard_svg() -> str:
    """docs/dashboard.svg: the layout of template.yaml's dashboard, drawn from its own body."""
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse((ROOT / "template.yaml").read_text())
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "X", body))["widgets"]
    unit, row = 40, 34  # CloudWatch's grid is 24 columns wide; a row is drawn 34 px high here
    height = max(w["y"] + w["height"] for w in widgets) * row
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{24 * unit}" height="{height}" '
        'font-family="sans-serif" font-size="13">',
        f'<rect width="{24 * unit}" height="{height}" fill="#ffffff"/>',
    ]
    for widget in widgets:
        x, y = widget["x"] * unit + 4, widget["y"] * row + 4
        w, h = widget["width"] * unit - 8, widget["height"] * row - 8
        kind = "log table" if widget["type"] == "log" else widget["properties"].get("view", "timeSeries")
        parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="#f4f6f8" stroke="#8a99a8"/>')
        parts.append(
            f'<text x="{x + 10}" y="{y + 22}" font-weight="bold">{escape(widget["properties"]["title"])}</text>'
        )
        parts.append(f'<text x="{x + 10}" y="{y + 42}" fill="#5a6b7b">{escape(kind)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# Whole files written from the code.
FILES: dict[str, Callable[[], str]] = {"docs/dashboard.svg": dashboard_svg}

# page -> block name -> what writes the block
BLOCKS: dict[str, dict[str, Callable[[], str]]] = {
    "docs/observability.md": {"reasons": reasons_table},
    "docs/authorizers.md": {"algorithms": algorithms_table},
}


def render(text: str, blocks: dict[str, Callable[[], str]], page: str) -> str:
    """``text`` with each named block replaced by what its function writes now."""
    for name, make in blocks.items():
        pattern = re.compile(rf"(<!-- {name}:begin -->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"{page} has no <!-- {name}:begin --> ... <!-- {name}:end --> block")
        text = pattern.sub(_replacement(make()), text)
    return text


def _replacement(block: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return match.group(1) + block + "\n" + match.group(2)

    return replace


def stale_pages(root: Path = ROOT) -> list[str]:
    """The pages whose generated blocks differ from what the code says now."""
    stale = []
    for page, blocks in BLOCKS.items():
        text = (root / page).read_text()
        if render(text, blocks, page) != text:
            stale.append(page)
    for name, make in FILES.items():
        path = root / name
        if not path.exists() or path.read_text() != make():
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say which pages are out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages()
        if stale:
            print(f"error: out of date: {', '.join(stale)} (run make docs)", file=sys.stderr)
            return 1
        return 0
    for page, blocks in BLOCKS.items():
        path = ROOT / page
        path.write_text(render(path.read_text(), blocks, page))
    for name, make in FILES.items():
        (ROOT / name).write_text(make())
    return 0


if __name__ == "__main__":
    sys.exit(main())
