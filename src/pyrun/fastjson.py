"""JSON on pyrun's hot path, through the stdlib's C accelerator `_json` alone.

The `json` package imports `re` (and with it `enum`) and compiles regular expressions at
import: ~7 ms, a quarter of a whole `pyrun run`. Its C scanner and encoder need none of
that. Same results as json.loads/json.dumps(separators=(",", ":")); errors are ValueError
(json.JSONDecodeError is one) with a position; dumps_indented is json.dumps(indent=2).
"""

import _json

_WHITESPACE = " \t\n\r"


class _DecoderContext:
    """The attributes _json.make_scanner reads from a json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"),
                      "NaN": float("nan")}.__getitem__
    memo: dict = {}


_scan = _json.make_scanner(_DecoderContext())
_encode = _json.make_encoder(None, None, _json.encode_basestring_ascii, None, ":", ",",
                             False, False, True)


def loads(text: str | bytes):
    if isinstance(text, bytes):
        text = text.decode()
    start = _skip(text, 0)
    try:
        value, end = _scan(text, start)
    except StopIteration as stop:
        raise ValueError(f"expecting a value at character {stop.value}") from None
    except Exception:
        # The C scanner raises json.JSONDecodeError only if json.decoder is imported (else a
        # SystemError): on this cold path, let the json package say what is wrong.
        import json

        json.loads(text)
        raise
    end = _skip(text, end)
    if end != len(text):
        raise ValueError(f"extra data at character {end}")
    return value


def dumps(value) -> str:
    try:
        return "".join(_encode(value, 0))
    except TypeError as e:
        raise TypeError(f"not JSON serializable: {e}") from None


def dumps_indented(value, indent: int = 2) -> str:
    """json.dumps(value, indent=indent), as `pyrun state` prints it (runc's shape), without
    the json package: the C encoder has no indentation, so containers are laid out here
    and every scalar goes through it."""
    out: list[str] = []
    _indented(value, out, "\n", " " * indent)
    return "".join(out)


def _indented(value, out: list, newline: str, step: str) -> None:
    inner = newline + step
    if isinstance(value, dict) and value:
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            out.append(("," if i else "") + inner + _json.encode_basestring_ascii(str(key))
                       + ": ")
            _indented(item, out, inner, step)
        out.append(newline + "}")
    elif isinstance(value, list | tuple) and value:
        out.append("[")
        for i, item in enumerate(value):
            out.append(("," if i else "") + inner)
            _indented(item, out, inner, step)
        out.append(newline + "]")
    else:
        out.append(dumps(value))  # a scalar, {} or []


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i
