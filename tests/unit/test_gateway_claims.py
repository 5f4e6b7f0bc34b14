"""JWT claims as the JWT authorizer emulation hands them to integrations: strings, at any depth."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from devkit.local.gateway import claims_as_aws_passes_them

DEPTH = 5000  # far past the interpreter's recursion limit (1000)


def test_shallow_claims_are_flattened_as_before():
    claims = {
        "sub": "client@clients",
        "iat": 1700000000,
        "ratio": 1.5,
        "admin": True,
        "guest": False,
        "nothing": None,
        "aud": ["https://api.example.com", "https://other.example"],
        "empty": [],
        "nested": [["a", "b"], "c", [True, None, 2]],
        "mixed": ["x", {"k": "v", "n": [1, False]}],
        "org": {"id": "org_1", "tags": ["a", "b"], "on": True, "none": None, "name": "caf\u00e9", "n": 0.5},
        "empty_object": {},
    }
    assert claims_as_aws_passes_them(claims) == {
        "sub": "client@clients",
        "iat": "1700000000",
        "ratio": "1.5",
        "admin": "true",
        "guest": "false",
        "nothing": "None",
        "aud": "[https://api.example.com https://other.example]",
        "empty": "[]",
        "nested": "[[a b] c [true None 2]]",
        "mixed": '[x {"k":"v","n":[1,false]}]',
        "org": '{"id":"org_1","tags":["a","b"],"on":true,"none":null,"name":"caf\\u00e9","n":0.5}',
        "empty_object": "{}",
    }


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [1, 2.5, -0.0, 1e300, "\u00e9\u2028\ud83d\ude00", 'q"\\\n'], "c": {"d": {}, "e": []}},
        {"nan": math.nan, "inf": [math.inf, -math.inf], "big": 10**40},
        {"1": {"2": [[[]], [{}]]}, "": ""},
    ],
)
def test_objects_are_the_compact_json_json_dumps_writes(value: dict[str, Any]):
    assert claims_as_aws_passes_them({"claim": value})["claim"] == json.dumps(value, separators=(",", ":"))


def test_a_5000_deep_array_is_flattened_without_recursion():
    value: Any = "x"
    for _ in range(DEPTH):
        value = [value]
    assert claims_as_aws_passes_them({"deep": value}) == {"deep": "[" * DEPTH + "x" + "]" * DEPTH}


def test_a_5000_deep_object_is_compact_json_without_recursion():
    value: Any = 1
    for _ in range(DEPTH):
        value = {"a": value}
    expected = '{"a":' * DEPTH + "1" + "}" * DEPTH
    assert claims_as_aws_passes_them({"deep": value, "in_array": [value]}) == {
        "deep": expected,
        "in_array": f"[{expected}]",
    }


def test_a_5000_deep_mix_of_arrays_and_objects():
    value: Any = [True, None]
    expected = "[true,null]"
    for level in range(DEPTH):
        if level % 2:
            value, expected = {"k": value}, '{"k":' + expected + "}"
        else:
            value, expected = [value, "s"], "[" + expected + ',"s"]'
    # The outermost level is an object, so all of it is compact JSON; as an array item, too.
    assert claims_as_aws_passes_them({"deep": value, "listed": [value, 1]}) == {
        "deep": expected,
        "listed": f"[{expected} 1]",
    }
