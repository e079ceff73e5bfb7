"""pyrun.fastjson: the stdlib's C JSON scanner/encoder without `json`; same results."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrun import fastjson

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@given(json_values)
def test_dumps_matches_stdlib_compact(value):
    assert fastjson.dumps(value) == json.dumps(value, separators=(",", ":"))


@given(json_values)
def test_loads_matches_stdlib(value):
    text = json.dumps(value, indent=2, ensure_ascii=False)
    assert fastjson.loads(text) == json.loads(text)


@given(json_values)
def test_round_trip(value):
    assert fastjson.loads(fastjson.dumps(value)) == value


@given(json_values)
def test_bytes_input_is_utf8(value):
    text = json.dumps(value, ensure_ascii=False)
    assert fastjson.loads(text.encode()) == json.loads(text)


def test_surrounding_whitespace_is_allowed():
    assert fastjson.loads(' \t\n\r{"a": [1, 2.5, null, true]}\r\n ') == {
        "a": [1, 2.5, None, True]}


def test_dumps_is_ascii_and_compact():
    assert fastjson.dumps({"k": ["é", 1, None]}) == '{"k":["\\u00e9",1,null]}'


def test_dumps_rejects_unserializable_with_type_error():
    with pytest.raises(TypeError):
        fastjson.dumps({"a": object()})


@pytest.mark.parametrize("text", [
    "", " ", "{", "[1,]", "{'a': 1}", "tru", "1 2", "{} x", '{"a" 1}', '"unterminated',
    "[1] [2]", '"\x01"', "01", "{,}", '{"a":1,}',
])
def test_malformed_raises_value_error(text):
    with pytest.raises(ValueError):
        fastjson.loads(text)
    with pytest.raises(ValueError):  # the stdlib agrees that it is malformed
        json.loads(text)


def test_invalid_utf8_bytes_raise_value_error():
    with pytest.raises(ValueError):
        fastjson.loads(b'{"a": "\xff"}')


@pytest.mark.parametrize("value", [
    {}, [], {"a": {}}, {"a": []}, None, 0, "x",
    {"ociVersion": "1.0.2", "id": "c1", "status": "running", "pid": 42, "bundle": "/b",
     "rootfs": "/b/rootfs", "created": "2026-12-06T05:00:00.000000000Z", "owner": "",
     "annotations": {"k": "v\u00e9\n\"q\"", "n": "1"}},
    [{"a": [1, 2.5, True, None, {"b": [[]]}]}, "é"],
])
def test_dumps_indented_is_json_dumps_indent_2(value):
    assert fastjson.dumps_indented(value) == json.dumps(value, indent=2)


@given(json_values)
def test_dumps_indented_matches_json_on_any_value(value):
    assert fastjson.dumps_indented(value) == json.dumps(value, indent=2)
