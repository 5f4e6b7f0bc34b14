"""Template parameter values are refused as CloudFormation would, from template.yaml's own rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit.parameters import ParameterError, parse_overrides, parse_pairs, template_parameters, validate
from devkit.template import TemplateError, translate
from tests.support import ROOT

TEMPLATE = ROOT / "template.yaml"
DECLARED = template_parameters(TEMPLATE)
GOOD = {"Issuer": "https://dev-abc123.us.auth0.com/", "Audience": "https://api.example.com"}


def refusal(values: dict[str, str], template: Path | dict[str, Any] = TEMPLATE) -> str:
    with pytest.raises(ParameterError) as caught:
        validate(template, values)
    message = str(caught.value)
    assert "\n" not in message
    return message


def constraint(name: str) -> str:
    return " ".join(DECLARED[name]["ConstraintDescription"].split())


def test_the_templates_defaults_and_a_real_issuer_pass():
    defaults = {name: str(spec["Default"]) for name, spec in DECLARED.items() if "Default" in spec}
    values = {**defaults, **GOOD}
    assert validate(TEMPLATE, values) == values


@pytest.mark.parametrize(
    ("pair", "problem"),
    [
        ("Issuer=http://x", "'http://x' does not match the allowed pattern"),
        ("Issuer=https://t.auth0.com/?x=1", "'https://t.auth0.com/?x=1' does not match the allowed pattern"),
        ("AuthorizerCacheTtl=99999", "'99999' does not match the allowed pattern"),
        ("AuthorizerCacheTtl=-1", "'-1' does not match the allowed pattern"),
        ("AuthorizerCacheTtl=1.5", "'1.5' does not match the allowed pattern"),
        ("AuthorizerCacheTtl=abc", "'abc' does not match the allowed pattern"),
        ("AuthorizerCacheTtl=nan", "'nan' does not match the allowed pattern"),
        ("AuthorizerCacheTtl= 30", "' 30' does not match the allowed pattern"),
        ("ThrottlingBurstLimit=2.0", "'2.0' does not match the allowed pattern"),
        ("CorsAllowedOrigins=https://a.example/path", "'https://a.example/path' does not match the allowed pattern"),
        (
            "CorsAllowedOrigins=https://ok.example,https://a.example/",
            "'https://a.example/' (in 'https://ok.example,https://a.example/') does not match the allowed pattern",
        ),
        ("LogRetentionDays=2", "'2' is not one of the allowed values"),
        ("LogRetentionDays=30.0", "'30.0' is not one of the allowed values"),
        ("AuthorizerTracing=active", "'active' is not one of the allowed values"),
        ("Audience=", "'' does not match the allowed pattern"),
        (
            "Audience=https://a.example,,https://b.example",
            "'' (in 'https://a.example,,https://b.example') does not match the allowed pattern",
        ),
        ("RequiredScope=read test", "'read test' does not match the allowed pattern"),
    ],
)
def test_a_refusal_names_the_parameter_and_quotes_its_constraint(pair: str, problem: str):
    values = parse_pairs([pair])
    ((name, _),) = values.items()
    assert refusal({**GOOD, **values}) == f"parameter {name}: {problem}; {constraint(name)}"


def test_the_example_message_for_a_fraction():
    assert refusal({"AuthorizerCacheTtl": "1.5"}) == (
        "parameter AuthorizerCacheTtl: '1.5' does not match the allowed pattern; "
        "must be a whole number of seconds from 0 to 3600."
    )


def test_a_folded_constraint_description_is_one_line():
    message = refusal({"CorsAllowedOrigins": "https://a.example/path"})
    assert "no path or trailing slash), separated by commas" in message


@pytest.mark.parametrize(
    ("pair", "name"),
    [
        ("AuthorizerCacheTtl=0", "AuthorizerCacheTtl"),
        ("AuthorizerCacheTtl=3600", "AuthorizerCacheTtl"),
        ("LogRetentionDays=30", "LogRetentionDays"),
        ("CorsAllowedOrigins=https://a.example, http://localhost:5173", "CorsAllowedOrigins"),
        ("CorsAllowedOrigins=*", "CorsAllowedOrigins"),
        ("Audience=https://a.example,b", "Audience"),
        ("RequiredScope=read:test", "RequiredScope"),
        ("SharedSecretParameter=/jwt/secret", "SharedSecretParameter"),
    ],
)
def test_values_a_deploy_accepts_pass(pair: str, name: str):
    values = parse_pairs([pair])
    assert validate(TEMPLATE, values) == values


def test_an_unknown_name_lists_the_templates_parameters():
    message = refusal({"Nope": "1"})
    assert message == f"unknown parameter 'Nope' ({TEMPLATE} has: {', '.join(sorted(DECLARED))})"
    assert "Audience, AuthorizerCacheTtl" in message


def test_a_wrong_case_name_gets_a_hint():
    assert refusal({"issuer": "https://t.auth0.com/"}).startswith(
        f"unknown parameter 'issuer' (did you mean Issuer? {TEMPLATE} has: "
    )


def test_template_as_a_parsed_document_with_length_and_list_of_numbers():
    document = {
        "Parameters": {
            "Name": {"Type": "String", "MinLength": 2, "MaxLength": 4},
            "Ports": {"Type": "List<Number>", "AllowedValues": [80, 443]},
            "Ratio": {"Type": "Number", "MinValue": 0.5},
        }
    }
    assert validate(document, {"Name": "abcd", "Ports": "80, 443", "Ratio": "0.5"}) == {
        "Name": "abcd",
        "Ports": "80, 443",
        "Ratio": "0.5",
    }
    assert refusal({"Name": "a"}, document) == "parameter Name: 'a' is 1 characters, under the minimum of 2; " + (
        "must be at least 2 characters, at most 4 characters."
    )
    assert refusal({"Name": "abcde"}, document).startswith("parameter Name: 'abcde' is 5 characters, over the maximum")
    assert refusal({"Ports": "80,x"}, document) == (
        "parameter Ports: 'x' (in '80,x') is not a number; must be a number, one of 80, 443."
    )
    assert refusal({"Ports": "8080"}, document).startswith("parameter Ports: '8080' is not one of the allowed values")
    assert refusal({"Ratio": "0.25"}, document).startswith("parameter Ratio: '0.25' is below the minimum of 0.5")
    assert refusal({"Other": "1"}, document).startswith("unknown parameter 'Other' (the template has: Name, Ports")


def test_a_pattern_must_match_the_whole_value_even_unanchored():
    document = {"Parameters": {"Slug": {"Type": "String", "AllowedPattern": "[a-z]+"}}}
    assert validate(document, {"Slug": "abc"}) == {"Slug": "abc"}
    assert refusal({"Slug": "abc1"}, document) == (
        "parameter Slug: 'abc1' does not match the allowed pattern; must be matching [a-z]+."
    )


def test_a_constraint_description_with_line_breaks_is_collapsed():
    # A literal block (|), or a folded one with more-indented lines, keeps its line breaks.
    document = {
        "Parameters": {"Mode": {"Type": "String", "AllowedValues": ["a"], "ConstraintDescription": "must be\n  a.\n"}}
    }
    assert refusal({"Mode": "b"}, document) == "parameter Mode: 'b' is not one of the allowed values; must be a."


def test_pairs_are_parsed_like_parameter_overrides():
    assert parse_pairs(["A=1", "B=x=y", "C=", "A=2"]) == {"A": "2", "B": "x=y", "C": ""}
    for bad in ("RequiredScope", "=x"):
        with pytest.raises(ParameterError, match=r"^parameter '.*' is not Name=value$"):
            parse_pairs([bad])


BROKEN = "Parameters:\n  Issuer: [https://x\n\n"
BROKEN_LINE = (
    "is not valid YAML: line 4, column 1: while parsing a flow sequence, expected ',' or ']', but got '<stream end>'"
)


def test_a_yaml_error_keeps_its_line_and_column_in_one_line(tmp_path: Path):
    broken = tmp_path / "template.yaml"
    broken.write_text(BROKEN)
    with pytest.raises(TemplateError) as translating:
        translate(broken)
    assert str(translating.value) == f"{broken} {BROKEN_LINE}"
    with pytest.raises(ParameterError) as validating:
        validate(broken, {"Issuer": "https://x/"})
    assert str(validating.value) == f"{broken} {BROKEN_LINE}"


def test_a_scanner_error_has_no_context_but_still_its_place(tmp_path: Path):
    broken = tmp_path / "template.yaml"
    broken.write_text("Resources:\n  A: b\n   c: d\n")
    with pytest.raises(TemplateError, match=r"is not valid YAML: line 3, column 5: mapping values are not allowed"):
        translate(broken)


def test_a_missing_template_is_one_line(tmp_path: Path):
    with pytest.raises(ParameterError, match=r"^cannot read .*nope\.yaml: No such file or directory$"):
        validate(tmp_path / "nope.yaml", {})


# ---------------------------------------------------------------- PARAMS: nothing SAM CLI would drop
@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        (
            "RequiredScope=read test",
            "PARAMS: 'test' is not a Name=Value pair, and sam deploy would drop it; "
            "quote the whole value: RequiredScope='read test'",
        ),
        (
            "AuthorizerCacheTtl=60 RequiredScope=",
            "PARAMS: 'RequiredScope=' is not a Name=Value pair, and sam deploy "
            "would drop it; write an empty value as RequiredScope=''",
        ),
        (
            "RequiredScope=",
            "PARAMS: 'RequiredScope=' is not a Name=Value pair; write an empty value as RequiredScope=''",
        ),
        (
            "RequiredScope='read'test",
            "PARAMS: 'test' is not a Name=Value pair, and sam deploy would drop it; "
            "quote the whole value: RequiredScope='readtest'",
        ),
        (
            "junk RequiredScope=read",
            "PARAMS: 'junk' is not a Name=Value pair, and sam deploy would drop it; "
            "give Name=Value pairs separated by spaces, quoting a value that holds spaces: Name='a b'",
        ),
        (
            "ParameterKey=A,ParameterValue=1 B=2",
            "PARAMS: 'B=2' is not a Name=Value pair, and sam deploy would drop "
            "it; give Name=Value pairs separated by spaces, quoting a value that holds spaces: Name='a b'",
        ),
    ],
)
def test_text_sam_cli_would_silently_drop_is_refused_in_one_line(text: str, refusal: str):
    with pytest.raises(ParameterError) as caught:
        parse_overrides(text)
    assert str(caught.value) == refusal


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("RequiredScope='read test'", {"RequiredScope": "read test"}),
        ('RequiredScope="" AuthorizerCacheTtl=60', {"RequiredScope": "", "AuthorizerCacheTtl": "60"}),
        ("  A=1   B=x=y  ", {"A": "1", "B": "x=y"}),
        ("""RequiredClaims='{"org_id": ["org_abc123"]}'""", {"RequiredClaims": '{"org_id": ["org_abc123"]}'}),
        ("ParameterKey=A,ParameterValue=1 ParameterKey=B,ParameterValue=2", {"A": "1", "B": "2"}),
    ],
)
def test_well_formed_text_reads_as_sam_cli_reads_it(text: str, values: dict[str, str]):
    assert parse_overrides(text) == values


def test_the_refusal_names_where_the_text_came_from():
    with pytest.raises(ParameterError, match=r"^parameter_overrides in samconfig.toml: 'test' is not"):
        parse_overrides("RequiredScope=read test", "parameter_overrides in samconfig.toml")


@settings(max_examples=400, deadline=None)
@given(value=st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="="), max_size=30))
def test_a_value_never_swallows_or_loses_the_pair_after_it(value: str):
    try:
        parsed = parse_overrides(f"A={value} B=1")
    except ParameterError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("PARAMS: ")
        return
    # Accepted: both pairs are there, and an unquoted value is what was typed up to the spaces
    # that separate it from the next pair.
    assert set(parsed) == {"A", "B"} and parsed["B"] == "1"
    if not set(value) & set("\"'\\"):
        assert parsed["A"] == value.rstrip(" ")


@pytest.mark.parametrize(
    ("text", "name", "quote"),
    [
        ("""RequiredClaims='{"org_id": ["org_abc123"]}""", "RequiredClaims", "'"),
        ('RequiredScope="read:test AuthorizerCacheTtl=60', "RequiredScope", '"'),
        ("AuthorizerCacheTtl=60 RequiredScope='" + "x" * 60, "RequiredScope", "'"),
        ("ParameterKey=RequiredScope,ParameterValue='" + "x" * 60, "ParameterValue", "'"),
    ],
)
def test_an_unclosed_quote_is_refused_at_once(text: str, name: str, quote: str):
    # SAM CLI's own pattern backtracks exponentially on these: 60 characters would take hours.
    with pytest.raises(ParameterError) as caught:
        parse_overrides(text)
    assert str(caught.value).startswith(f"PARAMS: the {quote} that opens {name}'s value is never closed; close it")


@settings(max_examples=1000, deadline=None)
@given(value=st.text(alphabet=st.sampled_from(list(" \\'\"ab=B1")), max_size=12))
def test_quotes_and_backslashes_never_swallow_the_pair_after_a_value(value: str):
    try:
        parsed = parse_overrides(f"A={value} B=1")
    except ParameterError as exc:
        assert "\n" not in str(exc)
        return
    # "=" in the value may make pairs of its own; the B=1 typed after it is never lost.
    assert parsed.get("B") == "1", parsed
