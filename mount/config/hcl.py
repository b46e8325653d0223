"""HCL documents (the config file, ACL policies) through python-hcl2, with one error style.

ACL policies may also come in HCL's JSON form (hvac, Terraform's `jsonencode`).
"""

from __future__ import annotations

import json
from typing import Any

import hcl2

__all__ = [
    "BLOCK_MARK",
    "HCLSyntaxError",
    "META_KEYS",
    "is_json",
    "label",
    "parse_document",
    "parse_json_document",
]

BLOCK_MARK = "__is_block__"
META_KEYS = {BLOCK_MARK, "__comments__", "__inline_comments__", "__start_line__", "__end_line__"}


class HCLSyntaxError(ValueError):
    """The text is not HCL; the message says where, for a person to fix it."""


def parse_document(text: str, source: str) -> dict[str, Any]:
    """The top-level attributes and blocks of `text`, without the parser's markers."""
    options = hcl2.SerializationOptions(
        strip_string_quotes=True, with_comments=False, preserve_heredocs=False
    )
    try:
        document = hcl2.loads(text, serialization_options=options)
    except Exception as exc:  # the parser (lark) raises several unrelated types
        raise HCLSyntaxError(_syntax_message(exc, source)) from None
    if not isinstance(document, dict):
        raise HCLSyntaxError(f"{source} is not an HCL document")
    return {k: v for k, v in document.items() if k not in META_KEYS}


def is_json(text: str) -> bool:
    """Whether Vault reads `text` as JSON: its first non-blank character is `{`."""
    return text.lstrip().startswith("{")


def parse_json_document(text: str, source: str) -> dict[str, Any]:
    """The object of a JSON document; a key given twice in one object is refused.

    A JSON decoder keeps only the last of two equal keys, so a repeated rule (say a deny
    followed by a read) would silently lose one; Vault's HCL reader keeps both.
    """

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:
                raise HCLSyntaxError(
                    f'key "{key}" appears twice in one JSON object of {source}; '
                    "write it once, merging what the two hold"
                )
            found[key] = value
        return found

    try:
        document = json.loads(text, object_pairs_hook=unique_keys)
    except HCLSyntaxError:
        raise
    except json.JSONDecodeError as exc:
        raise HCLSyntaxError(
            f"JSON syntax error in {source} at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:  # an over-long number, too deep a nesting
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise HCLSyntaxError(f"JSON in {source} cannot be read: {reason}") from None
    if not isinstance(document, dict):
        raise HCLSyntaxError(f"{source} is not a JSON object")
    return document


def _syntax_message(exc: Exception, source: str) -> str:
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    where = f" at line {line}, column {column}" if isinstance(line, int) and line > 0 else ""
    token = getattr(exc, "token", None)
    if getattr(token, "type", None) == "$END":
        detail = ": unexpected end of file (a closing brace or quote is missing)"
    elif token is not None:
        shown = str(token).strip().splitlines()[0][:30] if str(token).strip() else ""
        detail = f': unexpected "{shown}"' if shown else ""
    elif getattr(exc, "char", None):
        detail = f': unexpected "{exc.char}"'  # type: ignore[attr-defined]
    else:
        detail = ""
    return f"HCL syntax error in {source}{where}{detail}"


def label(value: str) -> str:
    """A block label without quotes (python-hcl2 8 keeps them unless told; older never do)."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value
