"""README.md: what a newcomer meets first, and the quick start run as written against make local."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.make_local import make_local as running_make_local
from tests.support import ROOT

README = (ROOT / "README.md").read_text()
TITLE, _, BODY = README.partition("\n")
OPENING = BODY[: BODY.index("\n## ")].strip()


def test_three_lines_come_first_what_you_get_then_a_first_200_then_make_test():
    lines = OPENING.splitlines()
    assert len(lines) == 3, OPENING
    assert lines[0].startswith("- **What you get:**")
    assert lines[1].startswith("- **A first 200 in a minute**")
    assert lines[2].startswith("- **`make test`**")
    assert BODY.index("```mermaid") > BODY.index("## How it works")


# Each term a newcomer meets: at its first use it is a link's text, or set in italics or bold where
# the sentence defines it.
TERMS = [
    "access token",
    "Auth0",
    "OpenID Connect",
    "HTTP API",
    "AWS SAM",
    "JWT",
    "claims",
    "audience",
    "OAuth scopes",
    "JWKS",
    "discovery document",
    "JWT authorizer",
    "Lambda authorizer",
    "REQUEST",
    "integration",
    "payload format 2.0",
    "invoke role",
    "dev issuer",
    "Docker",
    "sam local",
    "Finch",
]


@pytest.mark.parametrize("term", TERMS)
def test_each_term_is_linked_or_defined_at_first_use(term):
    first = re.search(rf"(?<![\w-]){re.escape(term)}(?![\w-])", BODY)
    assert first, term
    before, after = BODY[: first.start()], BODY[first.end() :]
    in_link = before.rfind("[") > before.rfind("]") and re.match(r"[^\[\]]*\]\(", after)
    emphasised = re.search(r"(\*|\*\*)`?$", before) and re.match(r"`?(\*|\*\*)", after)
    assert in_link or emphasised, (
        f"{term!r} first appears undefined: ...{BODY[first.start() - 60 : first.end() + 40]}..."
    )


def test_the_sizes_in_make_help_are_the_readmes():
    helped = subprocess.run(["make", "--no-print-directory"], cwd=ROOT, capture_output=True, text=True, check=True)
    sizes = re.findall(r"about (\d+) MB", helped.stdout)
    assert len(sizes) == 2
    for size in sizes:
        assert f"{size} MB" in OPENING + README[README.index("## Tests") :]


# ---------------------------------------------------------------- the commands, run as written
def quick_start() -> list[tuple[str, int]]:
    """The curl lines of the opening and of the quick start, with the status each promises."""
    block = README[README.index("## Quick start") :]
    block = block[block.index("```bash\n") + 8 : block.index("```\n", block.index("```bash\n") + 8)]
    curl = [
        (line.split("#")[0].strip(), int(line.rsplit("#", 1)[1].split()[0]))
        for line in block.splitlines()
        if line.startswith("curl ")
    ]
    (opening,) = re.findall(r"`(curl [^`]+)`", OPENING)
    return [(opening, 200), *curl]


@pytest.fixture(scope="module")
def make_local() -> Iterator[tuple[int, int]]:
    """`make local` from the repository, on ports it chose instead of 3000 and 3001, from a
    newcomer's bare environment."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    with running_make_local(env=env) as running:
        yield running.ports


@pytest.mark.parametrize(("command", "status"), quick_start(), ids=lambda value: str(value)[:60])
def test_the_readmes_curl_lines_get_the_status_they_promise(make_local, command, status):
    api_port, issuer_port = make_local
    # The same line, pointed at this test's ports: the only change.
    command = command.replace("127.0.0.1:3000", f"127.0.0.1:{api_port}")
    command = command.replace("make -s token", f"make -s token ISSUER_PORT={issuer_port}")
    result = subprocess.run(
        ["bash", "-c", f"{command} --max-time 30 -o /dev/null -w '%{{http_code}}'"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.strip()[-3:] == str(status), result.stdout + result.stderr
