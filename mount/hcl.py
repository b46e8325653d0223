"""HCL documents (the config file, ACL policies) through python-hcl2, with one error style."""

from __future__ import annotations

from typing import Any

import hcl2

__all__ = ["BLOCK_MARK", "HCLSyntaxError", "META_KEYS", "label", "parse_document"]

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
