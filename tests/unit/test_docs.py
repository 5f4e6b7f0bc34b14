"""The docs tables that come from the code say what the code says (``make docs`` rewrites them)."""

from __future__ import annotations

from devkit.docs import BLOCKS, render, stale_pages
from jwt_authorizer.reasons import DESCRIPTIONS, Reason, reasons_table


def test_every_generated_block_in_docs_is_up_to_date():
    assert stale_pages() == [], "run make docs"


def test_every_reason_has_one_row_and_a_description():
    assert set(DESCRIPTIONS) == set(Reason)
    rows = [line for line in reasons_table().splitlines() if line.startswith("| `") and "`reason`" not in line]
    assert [row.split("`")[1] for row in rows] == [reason.value for reason in Reason]


def test_a_changed_table_is_noticed():
    page = "docs/observability.md"
    text = "intro\n<!-- reasons:begin -->\n| `ok` | allowed |\n<!-- reasons:end -->\noutro\n"
    rendered = render(text, BLOCKS[page], page)
    assert rendered != text
    assert rendered.startswith("intro\n<!-- reasons:begin -->\n| `reason` | Meaning |")
    assert rendered.endswith("\n<!-- reasons:end -->\noutro\n")
    assert render(rendered, BLOCKS[page], page) == rendered


def test_the_algorithm_table_names_every_algorithm_and_what_make_local_does_with_it():
    from devkit.docs import algorithms_table
    from jwt_authorizer.algorithms import ALGORITHMS, BUILT_IN_ALGORITHMS

    rows = {line.split(" | ")[0].removeprefix("| "): line for line in algorithms_table().splitlines()[2:]}
    assert list(rows) == list(ALGORITHMS)
    for name, row in rows.items():
        assert row.endswith("| yes |") is (name in BUILT_IN_ALGORITHMS)
