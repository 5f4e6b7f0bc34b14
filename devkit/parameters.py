"""Template parameter values, checked as CloudFormation checks them, before anything runs.

A wrong value otherwise surfaces late: after a ``sam deploy`` has packaged and uploaded
everything, or as a confusing failure inside the local gateway. The rules come from the
template's own Parameters section, so they never drift from what a deploy enforces:

- a name the template does not declare is refused (CloudFormation refuses the stack);
- ``Number`` must be a number, within ``MinValue``/``MaxValue``;
- ``CommaDelimitedList`` and ``List<Number>`` are split on commas, each item space-trimmed,
  and every item must meet ``AllowedPattern``/``AllowedValues`` (an empty value is one empty item);
- ``AllowedPattern`` must match the whole value (CloudFormation anchors it);
- ``MinLength``/``MaxLength`` bound a ``String``.

Values are written as ``sam deploy --parameter-overrides`` takes them (``parse_overrides``
reads them with SAM CLI's own parser, ``format_override`` writes one back), so ``make local
PARAMS=...`` and ``make deploy PARAMS=...`` read the same text the same way. Text SAM CLI's
parser would silently drop (``RequiredScope=read test`` keeps ``read``) is refused instead.

``check_deployable`` adds what CloudFormation does not check but a deploy still trips over: the
Lambda authorizer's start-up rules, and an issuer that can never match a token's ``iss``
(``issuer_problem``, the one definition lint rule E9104 uses too).

Every refusal is one line that names the parameter and quotes its ``ConstraintDescription``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from devkit.template import yaml_error_message
from jwt_authorizer.settings import parse_required_claims

# CloudFormation's Number is "an integer or float"; Python's float() would also take
# "nan", "inf", "1_000" and surrounding spaces, none of which a deploy accepts.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_LIST_TYPES = ("CommaDelimitedList", "List<Number>")
_KNOWN_TYPES = ("String", "Number", *_LIST_TYPES)


class ParameterError(ValueError):
    """A parameter value the template refuses; the message says which and why, in one line.

    A ``ValueError``, so ``python -m devkit.local`` prints it as its one ``error:`` line.
    """


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``Name=value`` pairs, as ``sam deploy --parameter-overrides`` takes them; a later name wins."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ParameterError(f"parameter {pair!r} is not Name=value")
        values[name] = value
    return values


def parse_overrides(value: object, source: str = "PARAMS") -> dict[str, str]:
    """``parameter_overrides`` as SAM CLI itself reads it (one string, or a list of strings).

    ``source`` names where the text came from, for the one-line refusal (the make variable).
    """
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        return {}
    import click  # with SAM CLI, imported only when there are parameters to read
    from samcli.cli.types import CfnParameterOverridesType

    parser = CfnParameterOverridesType()
    for item in value:
        _refuse_what_sam_would_drop(str(item), parser.ordered_pattern_match, source)
    try:
        parsed = parser.convert(tuple(str(item) for item in value), None, None)
    except click.BadParameter:
        shown = " ".join(str(item) for item in value)
        raise ParameterError(
            f"{source}: {shown!r} is not Name=Value pairs as sam deploy --parameter-overrides takes them "
            "(quote a value that holds spaces: Name='a b')"
        ) from None
    return {str(name): str(text) for name, text in parsed.items()}


def _refuse_what_sam_would_drop(text: str, patterns: Iterable[str], source: str) -> None:
    """Refuse ``text`` unless SAM CLI's parser reads every character of it as part of a pair.

    SAM CLI collects ``Name=Value`` matches with ``re.findall`` and skips whatever lies between
    them: ``RequiredScope=read test`` deploys ``read``, and ``A=1 B=`` deploys no B at all.
    """
    if text.startswith("file://"):
        return  # SAM CLI reads that file itself, and refuses what it cannot parse
    _refuse_unclosed_quotes(text, source)
    normalized = " " + text.strip()
    for pattern in patterns:
        matches = list(re.finditer(pattern, normalized))
        if matches:
            break
    else:
        matches = []  # nothing is a pair: all of it would be refused (by SAM CLI, in other words)
    previous: re.Match[str] | None = None
    position = 0
    for match in [*matches, None]:
        gap = normalized[position : match.start() if match else len(normalized)]
        if gap.strip():
            dropped = ", and sam deploy would drop it" if matches else ""
            raise ParameterError(
                f"{source}: {gap.strip()!r} is not a Name=Value pair{dropped}; {_quoting_hint(previous, gap)}"
            )
        if match is not None:
            value = match.group(2)
            quoted = len(value) > 1 and value[0] == value[-1] and value[0] in "'\""
            if not quoted and "\\ " in value:
                # SAM CLI reads an unquoted "\ " as a space inside the value: "A=x\ B=1" is one
                # parameter A, "x B=1", and B is gone.
                raise ParameterError(
                    f"{source}: {match.group(0).strip()!r} escapes a space with a backslash, which makes the "
                    "rest part of the value; quote a value that holds spaces: Name='a b'"
                )
            previous, position = match, match.end()


_QUOTED_VALUE = re.compile(r"(?:^|(?<=[\s,]))([A-Za-z0-9]+)=([\"'])")


def _refuse_unclosed_quotes(text: str, source: str) -> None:
    """Refuse a value whose opening quote is never closed, before SAM CLI's pattern sees it.

    SAM CLI's pattern backtracks exponentially on one (``A='`` and 25 more characters take
    seconds, 35 take hours): without this, ``make deploy`` would hang on a missing quote.
    """
    for match in _QUOTED_VALUE.finditer(text):
        quote, position = match.group(2), match.end()
        while position < len(text) and text[position] != quote:
            position += 2 if text[position] == "\\" else 1
        if position >= len(text):
            raise ParameterError(
                f"{source}: the {quote} that opens {match.group(1)}'s value is never closed; "
                f"close it ({match.group(1)}={quote}...{quote}), or leave the value unquoted if it holds no spaces"
            )


def _quoting_hint(previous: re.Match[str] | None, gap: str) -> str:
    leftover = gap.strip()
    bare = re.fullmatch(r"([A-Za-z0-9]+)=", leftover)
    if bare:
        return f"write an empty value as {bare.group(1)}=''"
    if previous is None or "=" in leftover.split()[0]:
        return "give Name=Value pairs separated by spaces, quoting a value that holds spaces: Name='a b'"
    name, value = previous.group(1), previous.group(2)
    if len(value) > 1 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    whole = value + gap.rstrip()
    quote = '"' if "'" in whole else "'"
    return f"quote the whole value: {name}={quote}{whole}{quote}"


# SAM CLI unescapes \", \' and "\ " and has no escape for a backslash itself.
_UNREPRESENTABLE = re.compile(r"\\(?=[ \"']|$)")


def format_override(name: str, value: str) -> str:
    """One ``Name=Value`` argument that SAM CLI's parser reads back as exactly ``value``."""
    if _UNREPRESENTABLE.search(value):
        raise ParameterError(
            f"parameter {name}: a backslash before a quote, a space or the end of the value cannot be passed "
            "to sam deploy --parameter-overrides"
        )
    if value and not any(c.isspace() or c in "\"'\\" for c in value):
        return f"{name}={value}"
    escaped = value.replace('"', '\\"')
    return f'{name}="{escaped}"'


def template_parameters(template: Path | Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The template's Parameters section by name, read from the template as written (no transform)."""
    document = _read(template) if isinstance(template, Path) else template
    section = document.get("Parameters") if isinstance(document, Mapping) else None
    if section is None:
        return {}
    where = _where(template)
    if not isinstance(section, Mapping) or not all(isinstance(spec, Mapping) for spec in section.values()):
        raise ParameterError(f"{where}: Parameters is not a mapping of names to definitions")
    return {str(name): spec for name, spec in section.items()}


def validate(template: Path | Mapping[str, Any], values: Mapping[str, str]) -> dict[str, str]:
    """``values`` (only those given; defaults are the template's business) if the template accepts them.

    ``template`` is a template's path or its parsed document. Raises ``ParameterError`` on the
    first value a deploy would refuse.
    """
    declared = template_parameters(template)
    unknown = [name for name in values if name not in declared]
    if unknown:
        raise ParameterError(_unknown(unknown, declared, _where(template)))
    for name, value in values.items():
        check(name, declared[name], value)
    return dict(values)


# The template's parameters that hold issuers: the JWT authorizer's, and the Lambda authorizer's
# extra ones. Each must equal its tokens' iss byte for byte.
ISSUER_PARAMETERS = ("Issuer", "AdditionalIssuers")


def issuer_problem(value: object) -> str | None:
    """Why ``value`` can never equal a token's ``iss`` (None: it can).

    The one definition for lint rule E9104 (the template's values and defaults) and for
    ``check_deployable`` (``make deploy``, with or without ``SKIP_ISSUER_CHECK``, and ``make local``).
    """
    if not isinstance(value, str):
        return None
    if value != value.strip() or re.search(r"\s", value):
        return "contains whitespace"
    if not value.startswith("https://"):
        return "is not an https:// URL"
    host = value[len("https://") :].split("/", 1)[0]
    if host.endswith(".auth0.com") and not value.endswith("/"):
        return f"lacks the trailing slash Auth0 puts in iss (use '{value}/')"
    return None


def check_deployable(template: Path | Mapping[str, Any], values: Mapping[str, str]) -> dict[str, str]:
    """``values`` as CloudFormation checks them, then as the Lambda authorizer would at start-up
    (after a whole deploy), and each issuer as a token's ``iss`` must match it: one
    ``ParameterError`` line for the first that fails."""
    checked = validate(template, values)
    for name in ISSUER_PARAMETERS:
        for issuer in checked.get(name, "").split(","):
            problem = issuer_problem(issuer.strip()) if issuer.strip() else None
            if problem:
                raise ParameterError(f"parameter {name}: issuer {issuer.strip()!r} {problem}")
    try:
        parse_required_claims(checked.get("RequiredClaims", ""))
    except ValueError as exc:
        raise ParameterError(f"parameter RequiredClaims: {exc}") from None
    return checked


def check(name: str, spec: Mapping[str, Any], value: str) -> None:
    """Raise ``ParameterError`` unless ``value`` meets the parameter definition ``spec``."""
    kind = str(spec.get("Type", "String"))
    if kind not in _KNOWN_TYPES:
        # AWS-specific types (AWS::EC2::KeyPair::KeyName, SSM parameter types, ...) are checked
        # against the account at deploy time; nothing here can stand in for that.
        return
    if kind in _LIST_TYPES:
        items = [item.strip() for item in value.split(",")]
        for item in items:
            shown = repr(item) if len(items) == 1 else f"{item!r} (in {value!r})"
            _check_one(name, spec, item, shown, number=kind == "List<Number>")
        return
    _check_one(name, spec, value, repr(value), number=kind == "Number")
    if kind == "String":
        _check_length(name, spec, value)


def _check_one(name: str, spec: Mapping[str, Any], value: str, shown: str, *, number: bool) -> None:
    if number and not _NUMBER.fullmatch(value):
        raise ParameterError(_refusal(name, spec, f"{shown} is not a number"))
    allowed = spec.get("AllowedValues")
    if isinstance(allowed, list) and not _allowed(value, allowed, number=number):
        raise ParameterError(_refusal(name, spec, f"{shown} is not one of the allowed values"))
    pattern = spec.get("AllowedPattern")
    if isinstance(pattern, str):
        try:
            matched = re.fullmatch(pattern, value) is not None
        except re.error as exc:
            raise ParameterError(f"parameter {name}: its AllowedPattern is not a regular expression: {exc}") from exc
        if not matched:
            raise ParameterError(_refusal(name, spec, f"{shown} does not match the allowed pattern"))
    if number:
        _check_range(name, spec, value, shown)


def _allowed(value: str, allowed: list[Any], *, number: bool) -> bool:
    if number:
        # "30" and "30.0" are the same number to CloudFormation's Number type.
        return Decimal(value) in {_decimal(choice) for choice in allowed}
    return value in (_text(choice) for choice in allowed)


def _check_range(name: str, spec: Mapping[str, Any], value: str, shown: str) -> None:
    number = Decimal(value)
    low, high = _decimal(spec.get("MinValue")), _decimal(spec.get("MaxValue"))
    if low is not None and number < low:
        raise ParameterError(_refusal(name, spec, f"{shown} is below the minimum of {_text(spec['MinValue'])}"))
    if high is not None and number > high:
        raise ParameterError(_refusal(name, spec, f"{shown} is above the maximum of {_text(spec['MaxValue'])}"))


def _check_length(name: str, spec: Mapping[str, Any], value: str) -> None:
    low, high = _decimal(spec.get("MinLength")), _decimal(spec.get("MaxLength"))
    if low is not None and len(value) < low:
        problem = f"{value!r} is {len(value)} characters, under the minimum of {_text(spec['MinLength'])}"
        raise ParameterError(_refusal(name, spec, problem))
    if high is not None and len(value) > high:
        problem = f"{value!r} is {len(value)} characters, over the maximum of {_text(spec['MaxLength'])}"
        raise ParameterError(_refusal(name, spec, problem))


def _refusal(name: str, spec: Mapping[str, Any], problem: str) -> str:
    # ConstraintDescription is usually folded YAML (>-): it may still carry line breaks and indents.
    constraint = " ".join(str(spec.get("ConstraintDescription") or "").split()) or _constraint(spec)
    if not constraint.endswith("."):
        constraint += "."
    return f"parameter {name}: {problem}; {constraint}"


def _constraint(spec: Mapping[str, Any]) -> str:
    """What the value must be, in words, for a definition without a ConstraintDescription."""
    rules = []
    if isinstance(spec.get("AllowedValues"), list):
        rules.append("one of " + ", ".join(_text(choice) for choice in spec["AllowedValues"]))
    if isinstance(spec.get("AllowedPattern"), str):
        rules.append(f"matching {spec['AllowedPattern']}")
    for key, words in (("MinValue", "at least"), ("MaxValue", "at most")):
        if key in spec:
            rules.append(f"{words} {_text(spec[key])}")
    for key, words in (("MinLength", "at least"), ("MaxLength", "at most")):
        if key in spec:
            rules.append(f"{words} {_text(spec[key])} characters")
    if str(spec.get("Type", "String")) in ("Number", "List<Number>"):
        rules.insert(0, "a number")
    return "must be " + (", ".join(rules) or "a valid value")


def _unknown(unknown: list[str], declared: Mapping[str, Any], where: str) -> str:
    names = ", ".join(repr(name) for name in unknown)
    plural = "s" if len(unknown) > 1 else ""
    lower = {name.lower(): name for name in declared}
    hints = [lower[name.lower()] for name in unknown if name.lower() in lower]
    hint = f"did you mean {', '.join(hints)}? " if hints else ""
    known = f"{where} has: {', '.join(sorted(declared))}" if declared else f"{where} has no parameters"
    return f"unknown parameter{plural} {names} ({hint}{known})"


def _read(path: Path) -> Any:
    from samtranslator.yaml_helper import yaml_parse

    try:
        text = path.read_text()
    except OSError as exc:
        raise ParameterError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return yaml_parse(text)
    except Exception as exc:  # yaml errors come in many types
        raise ParameterError(yaml_error_message(path, exc)) from exc


def _where(template: Path | Mapping[str, Any]) -> str:
    return str(template) if isinstance(template, Path) else "the template"


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text(value: Any) -> str:
    """A template scalar as CloudFormation sees it: YAML's true is the string "true", not "True"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
