"""A small block-style YAML emitter (no PyYAML): strings are JSON-quoted (JSON strings are
valid YAML 1.2 double-quoted scalars), multi-line scripts are literal blocks where that is
exact, keys are plain only when YAML cannot read them as anything but that string, and explicit
(`? key`) when longer than an implicit key may be."""

import json
import math
import os
import re
from typing import Any, List

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# Plain keys YAML 1.2 reads as something other than a string (mpf's YAML has strict booleans:
# yes, no, on, off stay strings).
_SPECIAL = {"null", "true", "false", "~"}


def _quote(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    # Characters YAML does not allow raw (C1 controls, line and paragraph separators, BOM...)
    # are written as escapes, which JSON left as they are.
    return "".join(c if c.isprintable() or c in "\t" else _escape(c) for c in out)


def _escape(c: str) -> str:
    code = ord(c)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _key(key: Any) -> str:
    if isinstance(key, bool) or key is None:
        raise TypeError(f"a YAML key must be a string or a number, not {key!r}")
    if isinstance(key, (int, float)):
        return scalar(key)
    key = str(key)
    if _PLAIN_KEY.match(key) and key.lower() not in _SPECIAL:
        return key
    return _quote(key)


def _literal(text: str, indent: str) -> str:
    """`|` or `|-` with the lines indented, when that gives back exactly `text`."""
    body = text[:-1] if text.endswith("\n") else text
    if (body.endswith("\n") or not body or body[0] in " \t" or "\r" in text
            or any(not (c.isprintable() or c == "\t") for c in body.replace("\n", ""))):
        return ""
    head = "|" if text.endswith("\n") else "|-"
    lines = [indent + line if line else "" for line in body.split("\n")]
    return head + "\n" + "\n".join(lines)


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, os.PathLike):
        return _quote(os.fspath(value))
    if isinstance(value, str):
        return _quote(value)
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as YAML")


def _plain_data(value: Any) -> Any:
    """Python forms the YAML has no word for: range and tuples are lists."""
    if isinstance(value, (range, tuple, set, frozenset)):
        return list(value) if not isinstance(value, (set, frozenset)) else sorted(value)
    return value


# YAML limits an implicit key (`key: value`) to 1024 characters; a longer one is written in the
# explicit form (`? key` then `: value`). 1000 leaves a margin for readers that count the
# indentation or the colon.
MAX_IMPLICIT_KEY = 1000


def _emit(value: Any, indent: str, out: List[str]) -> None:
    """Appends the lines of a mapping or a sequence at `indent`."""
    value = _plain_data(value)
    if isinstance(value, dict):
        for k, v in value.items():
            key = _key(k)
            if len(key) > MAX_IMPLICIT_KEY:
                out.append(f"{indent}? {key}")
                _item(":", v, indent, out)
            else:
                _item(key + ":", v, indent, out)
    else:
        for v in value:
            _item("-", v, indent, out)


def _item(head: str, value: Any, indent: str, out: List[str]) -> None:
    value = _plain_data(value)
    inner = indent + "  "
    if isinstance(value, (dict, list)) and value:
        if head == "-":
            # The first entry of a mapping or list shares the dash's line.
            sub: List[str] = []
            _emit(value, inner, sub)
            sub[0] = f"{indent}- " + sub[0][len(inner):]
            out.extend(sub)
        else:
            out.append(f"{indent}{head}")
            _emit(value, inner, out)
    elif isinstance(value, (dict, list)):
        out.append(f"{indent}{head} {'{}' if isinstance(value, dict) else '[]'}")
    elif isinstance(value, str) and "\n" in value and _literal(value, inner):
        out.append(f"{indent}{head} {_literal(value, inner)}")
    else:
        out.append(f"{indent}{head} {scalar(value)}")


def dump(document: dict) -> str:
    out: List[str] = []
    _emit(document, "", out)
    return "\n".join(out) + "\n"
