"""Typed access to a decoded JSON document: each getter checks one value and names its full
JSON path when it is wrong (`process.user.uid: expected an integer, got "x"`)."""

import os

from pyrun.errors import ConfigError

UINT32_MAX = 2**32 - 1


def kind_of(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return f'"{value}"' if len(value) < 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


def fail(path: str, message: str):
    raise ConfigError(f"config.json: {path}", message)


def expect(path: str, value, ok: bool, wanted: str):
    if not ok:
        fail(path, f"expected {wanted}, got {kind_of(value)}")
    return value


def obj(path, value) -> dict:
    return expect(path, value, isinstance(value, dict), "an object")


def string(path, value) -> str:
    expect(path, value, isinstance(value, str), "a string")
    if "\x00" in value:  # valid JSON, but no path, argument or name can hold one
        fail(path, "contains a NUL character")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # "\ud800" in the JSON: no UTF-8 for the kernel
            fail(path, "not valid Unicode (a lone surrogate)")
    return value


def boolean(path, value) -> bool:
    return expect(path, value, isinstance(value, bool), "a boolean")


def integer(path, value, lo=None, hi=None) -> int:
    expect(path, value, isinstance(value, int) and not isinstance(value, bool), "an integer")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        fail(path, f"{value} is out of range [{lo}, {hi}]")
    return value


def array(path, value) -> list:
    return expect(path, value, isinstance(value, list), "a list")


def strings(path, value) -> list[str]:
    return each(path, value, string)


def each(path, value, parse_item) -> list:
    """parse_item(f"{path}[i]", item) for each item of a JSON list."""
    return [parse_item(f"{path}[{i}]", v) for i, v in enumerate(array(path, value))]


def clean_path(path: str) -> str:
    """'//dev/../dev/' -> '/dev': one leading slash (normpath keeps two), no '..' above /."""
    return "/" + os.path.normpath("/" + path).lstrip("/")


def absolute(path, value) -> str:
    string(path, value)
    if not value.startswith("/"):
        fail(path, f'"{value}" must be an absolute path')
    return value


def opt_int(path, obj, key, lo=None, hi=None, zero_is_unset=False):
    """An optional integer: None when absent (or null). With `zero_is_unset`, 0 is read
    as absent too, as runc reads the resources whose 0 means "not set" (dockerd writes
    `cpu.shares: 0` and `blockIO.weight: 0` into every config)."""
    value = obj.get(key)
    if value is None or (zero_is_unset and value == 0 and not isinstance(value, bool)):
        return None
    return integer(f"{path}.{key}", value, lo, hi)


def opt_str(path, obj, key):
    return None if obj.get(key) is None else string(f"{path}.{key}", obj[key])


def opt_bool(path, obj, key):
    return None if obj.get(key) is None else boolean(f"{path}.{key}", obj[key])


def unique_type(where: str, item, allowed, seen: set, noun: str) -> str:
    """The `type` of a list entry: one of `allowed`, and not one `seen` before."""
    obj(where, item)
    kind = string(f"{where}.type", item.get("type"))
    if kind not in allowed:
        fail(f"{where}.type", f'unknown {noun} "{kind}"')
    if kind in seen:
        fail(f"{where}.type", f'{noun} "{kind}" given twice')
    seen.add(kind)
    return kind
