"""The bench's rows and table: paired ratios, percentiles, goals, and the machine they ran on.

Imported by the warm child in ``.venv-bench`` too, so it needs nothing beyond the stdlib.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.bench import AUTHORIZER


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


def rotated(items: Sequence[Any], turn: int) -> list[Any]:
    """Round ``turn``'s order: each item takes each position equally often, none always first."""
    shift = turn % len(items)
    return [*items[shift:], *items[:shift]]


def paired_ratio(figures: Sequence[float], floors: Sequence[float]) -> float:
    """The median of ``figures[i] / floors[i]``: each figure over the floor of its own turn."""
    if not figures or len(figures) != len(floors):
        raise ValueError("one floor per figure")
    return statistics.median(figure / floor for figure, floor in zip(figures, floors, strict=True))


def ratio_row(
    name: str, samples: list[float], ratio: float, unit: str, goal: float | None, moonshot: float | None = None
) -> Row:
    """A figure and its paired ratio to a floor, with the goal ``ratio ≤ goal`` if there is one."""
    median = statistics.median(samples)
    if goal is None:
        return Row(name, median, percentile(samples, 0.99), unit, ratio)
    return Row(name, median, percentile(samples, 0.99), unit, ratio, f"≤ {goal}x", ratio <= goal, moonshot)


def faster_row(name: str, peer: list[float], lead: float, ratio: float, unit: str, factor: float) -> Row:
    """The peer's figure and its ratio to the floor; ``lead`` is peer over ours, to be ≥ ``factor``."""
    goal = f"ours ≥ {factor}x faster: {lead:.2f}x"
    return Row(name, statistics.median(peer), percentile(peer, 0.99), unit, ratio, goal, lead >= factor)


def count_row(name: str, found: int, expected: int) -> Row:
    """A count that must be exact (lines written, keys fetched): ``= expected``."""
    return Row(name, found, None, "", None, f"= {expected}", found == expected)


MACHINE_PROBE = """
import json, platform, ssl
import aws_lambda_powertools, awslambdaric, cryptography
import devkit.bench
from cryptography.hazmat.backends.openssl.backend import backend
print(json.dumps({
    "python": platform.python_version(),
    "versions": f"cryptography {cryptography.__version__} ({backend.openssl_version_text()}), "
    f"Powertools {aws_lambda_powertools.__version__}, awslambdaric {awslambdaric.__version__}",
}))
"""


def machine(python: Path | None) -> str:
    """The report's first line: this machine, and what the bench interpreter measures with."""
    line = f"machine: {platform.platform()}, {os.cpu_count()} CPUs; bench Python {platform.python_version()} (.venv)"
    if python is None:
        return line
    # Run where the children run, so that `import devkit.bench` proves the project is installed
    # there and not merely found in the working directory.
    done = subprocess.run(
        [str(python), "-c", MACHINE_PROBE], capture_output=True, text=True, cwd=AUTHORIZER, check=False
    )
    if done.returncode != 0:
        raise SystemExit(
            f"bench: {python} lacks a piece of requirements-bench.txt or the project "
            f"(rm -rf .venv-bench, then make bench): {done.stderr.strip()[-300:]}"
        )
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


def missed(sections: list[tuple[str, list[Row]]]) -> list[str]:
    """The names of the rows whose goal was not met."""
    return [row.name for _, rows in sections for row in rows if row.met is False]
