"""What mod_json_cdr sends or writes -> the JSON document of one CDR.

mod_json_cdr (``encode`` in json_cdr.conf.xml) POSTs

* ``encode=false``: the JSON as it is, ``Content-Type: application/json``;
* ``encode=true``: ``cdr=<URL-encoded JSON>``, ``application/x-www-form-urlencoded``;
* ``encode=base64``: ``cdr=<base64 JSON>``, ``application/x-www-form-base64-encoded``;

to ``<url>?uuid=<channel uuid>``. Files in ``log-dir`` hold the JSON; files
in ``err-log-dir`` (POSTs that failed) hold what would have been posted
after ``cdr=``: JSON, URL-encoded JSON or base64 JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qs, unquote_to_bytes

from ..calls.cdr import CdrError

MAX_DEPTH = 32
JSON_TYPES = ("application/json", "text/json")
FORM_TYPE = "application/x-www-form-urlencoded"
BASE64_TYPE = "application/x-www-form-base64-encoded"


def _depth(value: Any, limit: int = MAX_DEPTH) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise CdrError(f"the JSON is nested deeper than {limit} levels")
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)


def parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CdrError("the CDR is not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except RecursionError:
        raise CdrError(f"the JSON is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise CdrError(f"not valid JSON ({exc.__class__.__name__} at line {getattr(exc, 'lineno', '?')}, "
                       f"column {getattr(exc, 'colno', '?')})") from None
    _depth(doc)
    return doc


def _base64(text: bytes) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=False)
    except (binascii.Error, ValueError):
        raise CdrError("the cdr field is not valid base64") from None


def _form_field(body: bytes) -> bytes:
    """The raw (still percent-encoded) value of the ``cdr`` form field."""
    for part in body.split(b"&"):
        name, sep, value = part.partition(b"=")
        if sep and name.strip() == b"cdr":
            return value
    raise CdrError("the form has no 'cdr' field (mod_json_cdr posts cdr=<JSON> when encode is set)")


def decode_body(body: bytes, content_type: str) -> Any:
    """The CDR document of a POST body; ``CdrError`` if it is not one."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in JSON_TYPES:
        return parse_json(body)
    if mime == FORM_TYPE:
        return parse_json(unquote_to_bytes(_form_field(body).replace(b"+", b" ")))
    if mime == BASE64_TYPE:
        value = _form_field(body)
        return parse_json(_base64(unquote_to_bytes(value)))
    raise CdrError(f"unsupported Content-Type {mime[:60]!r}: use application/json, {FORM_TYPE} "
                   f"or {BASE64_TYPE} (mod_json_cdr's encode = false, true or base64)")


def decode_file(content: bytes) -> Any:
    """A CDR file's document: JSON (log-dir), or the encoded text of a failed POST (err-log-dir)."""
    text = content.strip()
    if text.startswith(b"{"):
        return parse_json(text)
    if text.startswith(b"%7B") or text.startswith(b"%7b"):
        return parse_json(unquote_to_bytes(text))
    if text.startswith(b"ey"):  # base64 of '{"'
        return parse_json(_base64(text))
    raise CdrError("not a JSON CDR (neither JSON, URL-encoded JSON nor base64 JSON)")


def query_uuid(query: bytes | str) -> str:
    """The ``uuid`` mod_json_cdr appends to the URL, "" if none."""
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    values = parse_qs(query).get("uuid", [])
    return values[0] if values else ""
