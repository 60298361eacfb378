"""Lenient, total and bounded extraction of fields from a model's JSON-like answer.

Model output is untrusted input. The authors' answer template ends with a trailing comma (not valid
JSON) and models quote inconsistently, so instead of ``json.loads`` (or, worse, ``eval``) the
functions here scan for ``"key": value`` by hand:

* total: every input string gives a result (``None`` when a field is absent), never an exception;
* bounded: the answer is cut to :data:`MAX_ANSWER_CHARS` first and every scan is a single linear
  pass over at most that many characters, so a 1 MB answer costs the same as a 4 KB one.

:func:`authors_field`, :func:`authors_fields` and :func:`authors_str_to_list` read fields the
authors' way instead (LeslieTrue/SFTvsRL @ 5a6ea55, ``utils_general.re_match`` and
``robust_str_to_list``: ``json.loads`` first, then one regular expression per key); the "official"
reward modes use them.
"""

from __future__ import annotations

import json as _json
import re as _re

#: Hard cap on the characters of an answer that are ever looked at.
MAX_ANSWER_CHARS = 4096
#: Hard cap on the characters of one extracted field value.
MAX_FIELD_CHARS = 512

_QUOTES = "\"'\u201c\u201d\u2018\u2019"


def clip_answer(text: object) -> str:
    """Return ``text`` as a ``str`` of at most :data:`MAX_ANSWER_CHARS` characters (``''`` for non-str)."""
    if not isinstance(text, str):
        return ""
    return text[:MAX_ANSWER_CHARS]


def _value_start(text: str, key: str, lowered: str | None = None) -> int:
    """Index just after ``"key":`` (any quote style, any case, spaces allowed), or -1 if absent.

    ``lowered`` is ``text.lower()`` when the caller already has it (one pass for several keys).
    """
    if lowered is None:
        lowered = text.lower()
    key = key.lower()
    start = 0
    while True:
        i = lowered.find(key, start)
        if i < 0:
            return -1
        start = i + 1
        j = i + len(key)
        # The key must be quoted (or bare) and followed by a colon.
        if i > 0 and lowered[i - 1] not in _QUOTES and lowered[i - 1].isalnum():
            continue
        if j < len(text) and text[j] in _QUOTES:
            j += 1
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == ":":
            j += 1
            while j < len(text) and text[j] in " \t\r\n":
                j += 1
            return j


def extract_string_field(text: object, key: str, *, _lowered: str | None = None) -> str | None:
    """The value of ``"key": "..."`` in a JSON-like answer, or ``None`` if the key is absent.

    Quoted values (single, double or typographic quotes) are read up to the closing quote or the end
    of the line; unquoted values up to the next comma, closing brace or newline. The result is
    stripped and at most :data:`MAX_FIELD_CHARS` long.

    >>> extract_string_field('{"formula": "4*3+2+10=24",}', "formula")
    '4*3+2+10=24'
    """
    text = clip_answer(text)
    j = _value_start(text, key, _lowered)
    if j < 0:
        return None
    end_limit = min(len(text), j + MAX_FIELD_CHARS + 1)
    if j < len(text) and text[j] in _QUOTES:
        k = j + 1
        while k < end_limit and text[k] not in _QUOTES and text[k] != "\n":
            k += 1
        return text[j + 1 : min(k, j + 1 + MAX_FIELD_CHARS)].strip()
    k = j
    while k < end_limit and text[k] not in ",}\n":
        k += 1
    return text[j : min(k, j + MAX_FIELD_CHARS)].strip()


def extract_list_field(text: object, key: str, *, _lowered: str | None = None) -> list[str] | None:
    """The items of ``"key": [a, b, ...]`` as stripped, unquoted strings, or ``None`` if absent.

    Returns ``None`` when the key is missing or its value is not a bracketed list closed within
    :data:`MAX_FIELD_CHARS` characters.

    >>> extract_list_field("\\"cards\\": ['A', '3', 'K', '6'],", "cards")
    ['A', '3', 'K', '6']
    """
    text = clip_answer(text)
    j = _value_start(text, key, _lowered)
    if j < 0 or j >= len(text) or text[j] != "[":
        return None
    k = text.find("]", j + 1, j + 2 + MAX_FIELD_CHARS)
    if k < 0:
        return None
    inner = text[j + 1 : k]
    if not inner.strip():
        return []
    return [item.strip().strip(_QUOTES).strip() for item in inner.split(",")]


def extract_fields(text: object, strings: tuple[str, ...] = (), lists: tuple[str, ...] = ()) -> dict:
    """Several fields in one go (the text is clipped and lower-cased once): ``{key: value}``.

    >>> extract_fields('{"a": "x", "b": [1, 2]}', strings=("a",), lists=("b",))
    {'a': 'x', 'b': ['1', '2']}
    """
    text = clip_answer(text)
    lowered = text.lower()
    out: dict = {k: extract_string_field(text, k, _lowered=lowered) for k in strings}
    out.update({k: extract_list_field(text, k, _lowered=lowered) for k in lists})
    return out


# --------------------------------------------------------------------- the authors' field reader
# The authors' verifier (LeslieTrue/SFTvsRL @ 5a6ea55, ``utils_general.re_match`` and
# ``robust_str_to_list``) reads fields differently from the lenient scanner above; the functions
# below reproduce it for the package's "official" reward mode. Both are total (no exception
# escapes) and linear in the text (``json.loads`` and one ``re.search``; no ``eval``).

#: Their regular expressions, by key (``RE_PATTERN_DICT``): exactly one space after the colon,
#: double quotes, no newline inside a quoted value, the first match in the text.
AUTHORS_FIELD_PATTERNS: dict[str, str] = {
    "cards": r'"cards": \[([^\]]+)\]',
    "number": r'"number": \[([^\]]+)\]',
    "answer": r'"cards": \[([^\]]+)\]',
    "cards_remained": r'"cards_remained": \[([^\]]+)\]',
    "action": r'"action": "(.*?)"',
    "formula": r'"formula": "(.*?)"',
    "current observation": r'"current observation": "(.*?)"',
    "current instruction": r'"current instruction": "(.*?)"',
}
_AUTHORS_RE = {k: _re.compile(v) for k, v in AUTHORS_FIELD_PATTERNS.items()}
#: What their reader returns when nothing matches (a string, graded like any other).
AUTHORS_MISSING = "None"


def authors_field(text: object, key: str) -> object:
    """The value of ``key`` as the authors' ``re_match(text, key)`` returns it.

    1. ``json.loads(text)[key]`` if the text is JSON with that key: the value as JSON typed it
       (a ``str``, but also an ``int``, ``None``, a ``list`` ...);
    2. otherwise the first match of :data:`AUTHORS_FIELD_PATTERNS` ``[key]``; for a key containing
       ``"cards"`` the match is split on ``", "``: all integers gives a ``list`` of ``int``, else the
       string ``"[" + match + "]"``;
    3. otherwise the string ``"None"``.

    >>> authors_field('{"formula": "4*6=24",}', "formula")
    '4*6=24'
    >>> authors_field('"formula":"4*6"', "formula")
    'None'
    """
    return authors_fields(text, (key,))[key]


def authors_fields(text: object, keys: tuple[str, ...]) -> dict[str, object]:
    """:func:`authors_field` for several keys, parsing the JSON once: ``{key: value}``."""
    if not isinstance(text, str):
        return dict.fromkeys(keys, AUTHORS_MISSING)  # their code would raise; callers pass strings
    document = None
    stripped = text.strip(" \t\n\r")  # JSON's whitespace; only an object can have keys
    # A comma right before the final "}" is structural (a string cannot end there), so such text
    # (the authors' own answer template) is not JSON: skip the doomed json.loads.
    if stripped[:1] == "{" and stripped[-1:] == "}" and stripped[:-1].rstrip(" \t\n\r")[-1:] != ",":
        try:
            document = _json.loads(text)
        except Exception:  # noqa: BLE001 (theirs: a bare except; ValueError, RecursionError ...)
            document = None
    out: dict[str, object] = {}
    for key in keys:
        if isinstance(document, dict) and key in document:
            out[key] = document[key]
        else:
            out[key] = _authors_regex(text, key)
    return out


def _authors_regex(text: str, key: str) -> object:
    pattern = _AUTHORS_RE.get(key)
    match = pattern.search(text) if pattern is not None else None
    if match is None:
        return AUTHORS_MISSING
    found = match.group(1)
    if "cards" in key:
        parts = found.split(", ")
        try:
            return [_authors_int(p) for p in parts]
        except ValueError:
            return "[" + found + "]"
    return found


def _authors_int(s: str) -> int:
    """``int(s)`` as Python reads it, but refusing strings over 64 characters (no huge conversions)."""
    if len(s) > 64:
        raise ValueError(s[:16])
    return int(s)


def authors_str_to_list(value: object, n: int = 4) -> list[str]:
    """The authors' ``robust_str_to_list``: drop ``[``, ``]``, ``'`` and spaces, split on ``,``.

    Returns the items when ``value`` is a string giving exactly ``n`` items, else ``[]`` (a list
    value, e.g. valid JSON's ``"cards": ["A", ...]``, also gives ``[]``). Double quotes, tabs and
    newlines are kept.

    >>> authors_str_to_list("['A', '3', 'K', '6']")
    ['A', '3', 'K', '6']
    >>> authors_str_to_list('["A", "3", "K", "6"]')
    ['"A"', '"3"', '"K"', '"6"']
    """
    if not isinstance(value, str):
        return []
    items = value.replace("[", "").replace("]", "").replace("'", "").replace(" ", "").split(",")
    return items if len(items) == n else []
