"""The user documentation keeps up with the code, after datasette's tests/test_docs.py.

Every path of every mount is in docs/api.md with its fields (type, default, description
copied from the path table), every path and field has help text, every command-line flag
and config key is in docs/configuration.md, and every relative link resolves.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.cli import SECRET_ENV
from mount.build import BrokerOptions, build_core, ensure_root_token
from mount.cli import build_parser, emulator_parser
from mount.config import parse as config
from mount.run import entra_engine
from mount.sdk.fields import Field
from mount.sdk.framework import Path as ApiPath
from mount.sdk.logical import Operation
from mount.storage.barrier import KEY_ENV
from mount.storage.memory import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))

# The HTTP methods that must be named in a path's section, by operation.
VERBS = {
    Operation.READ: ("GET",),
    Operation.LIST: ("LIST",),
    Operation.CREATE: ("PUT", "POST"),
    Operation.UPDATE: ("PUT", "POST"),
    Operation.DELETE: ("DELETE",),
}


# -- reading the code -----------------------------------------------------------------


async def _mounted_paths() -> list[tuple[str, ApiPath]]:
    core = await build_core(BrokerOptions(store=MemoryStore(), engines=[entra_engine()]))
    # Auth methods are mounted on demand; enable each kind so its paths are checked too.
    await ensure_root_token(core, "root")
    await core.handle_internal(Operation.UPDATE, "sys/auth/approle", {"type": "approle"}, "root")
    await core.handle_internal(Operation.UPDATE, "sys/auth/oidc", {"type": "oidc"}, "root")
    found = [(entry.path, spec) for entry in core.mounts.entries() for spec in entry.backend.paths]
    for entry in core.mounts.entries():
        await entry.backend.close()
    return found


MOUNTED = asyncio.run(_mounted_paths())


def _without_groups(pattern: str) -> str:
    """Each named group `(?P<name>...)` of a path regex becomes `<name>`."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if not pattern.startswith("(?P<", i):
            out.append(pattern[i])
            i += 1
            continue
        close = pattern.index(">", i)
        name = pattern[i + 4 : close]
        depth, j, in_class = 1, close + 1, False
        while depth:
            char = pattern[j]
            if char == "\\":
                j += 2
                continue
            if in_class:
                in_class = char != "]"
            elif char == "[":
                in_class = True
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            j += 1
        out.append(f"<{name}>")
        i = j
    return "".join(out)


def doc_path(mount: str, pattern: str) -> str:
    """How api.md names a path: `entra/roles/<name>`, `sys/leases/renew[/<url_lease_id>]`."""
    text = _without_groups(pattern)
    text = re.sub(r"\(\?:/(<\w+>)\)\?", r"[/\1]", text)
    text = text.removesuffix("/?")
    return mount + text


def test_doc_path_names():
    assert doc_path("entra/", r"roles/(?P<name>\w(?:[\w\-.@]*\w)?)") == "entra/roles/<name>"
    assert doc_path("entra/", "roles/?") == "entra/roles"
    assert doc_path("sys/", r"mounts/(?P<path>.+?)/tune") == "sys/mounts/<path>/tune"
    assert (
        doc_path("sys/", r"leases/renew(?:/(?P<url_lease_id>.+))?")
        == "sys/leases/renew[/<url_lease_id>]"
    )


# -- reading the docs -----------------------------------------------------------------


def _lines_outside_code(text: str) -> Iterator[tuple[str, bool]]:
    """Each line, and whether it is outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            yield line, False
            continue
        yield line, not fenced


def sections(page: Path) -> list[tuple[str, str]]:
    """(heading, body) for every Markdown heading of a page; body runs to the next one."""
    found: list[tuple[str, list[str]]] = [("", [])]
    for line, prose in _lines_outside_code(page.read_text(encoding="utf-8")):
        if prose and re.match(r"#{1,6} ", line):
            found.append((line.lstrip("#").strip(), []))
        else:
            found[-1][1].append(line)
    return [(heading, "\n".join(body)) for heading, body in found]


def code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def sections_for(page: Path, name: str) -> list[str]:
    """The bodies of the sections whose heading has `name` as a code span."""
    return [body for heading, body in sections(page) if name in code_spans(heading)]


def _squash(text: str) -> str:
    return " ".join(text.split())


def _default(field: Field) -> str:
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    return f"`{field.default}`"


# -- the API --------------------------------------------------------------------------


def test_every_path_has_help_and_every_field_a_description():
    missing = [
        f"{mount}{spec.pattern}: no help_synopsis"
        for mount, spec in MOUNTED
        if not spec.help_synopsis.strip()
    ]
    missing += [
        f"{mount}{spec.pattern}: field {name} has no description"
        for mount, spec in MOUNTED
        for name, field in spec.fields.items()
        if not field.description.strip()
    ]
    assert missing == []


def test_the_entra_engine_and_the_builtin_mounts_are_all_there():
    mounts = {mount for mount, _ in MOUNTED}
    assert mounts == {"entra/", "sys/", "auth/token/", "auth/approle/", "auth/oidc/"}
    names = {doc_path(mount, spec.pattern) for mount, spec in MOUNTED}
    assert {"entra/config", "entra/roles/<name>", "entra/creds/<name>"} <= names


@pytest.mark.parametrize(
    ("mount", "spec"),
    MOUNTED,
    ids=[f"{doc_path(m, s.pattern)}-{sorted(o.value for o in s.operations)}" for m, s in MOUNTED],
)
def test_every_path_is_documented_with_its_methods_and_fields(mount, spec):
    name = doc_path(mount, spec.pattern)
    assert re.fullmatch(r"[\w\-./@<>\[\]]+", name), f"cannot name {spec.pattern!r} in docs"
    bodies = sections_for(DOCS / "api.md", name)
    assert bodies, f"docs/api.md has no section whose heading has `{name}`"
    text = "\n".join(bodies)
    for operation in spec.operations:
        verbs = VERBS[operation]
        assert any(f"`{verb}" in text or f"{verb} /v1/" in text for verb in verbs), (
            f"`{name}`: its section names none of {verbs} ({operation.value})"
        )
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    for field_name, field in spec.fields.items():
        row = next((r for r in rows if r.startswith(f"| `{field_name}` |")), None)
        assert row is not None, f"`{name}`: no table row for field `{field_name}`"
        cells = [_squash(cell) for cell in row.strip().strip("|").split("|")]
        assert len(cells) == 4, f"`{name}`: row of `{field_name}` is not name|type|default|text"
        assert cells[1] == field.type.value, f"`{name}` `{field_name}`: type"
        assert cells[2] == ("" if field.default is None else _default(field)), (
            f"`{name}` `{field_name}`: default"
        )
        assert cells[3] == _squash(field.description), f"`{name}` `{field_name}`: description"


# -- the command line and the config file ---------------------------------------------


def _commands(
    parser: argparse.ArgumentParser, name: str
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every (command line, parser) pair, walking sub-commands."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                yield from _commands(subparser, f"{name} {sub}")


COMMANDS = [
    *_commands(build_parser(), "entra-broker"),
    ("entra-broker emulator", emulator_parser()),
]


def test_the_commands_are_walked():
    names = [name for name, _ in COMMANDS]
    assert {"entra-broker server", "entra-broker operator generate-root"} <= set(names)
    assert "entra-broker emulator" in names


@pytest.mark.parametrize(("command", "parser"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_every_flag_is_documented_under_its_command(command, parser):
    options = [
        action
        for action in parser._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]
    if not options:
        return
    bodies = sections_for(DOCS / "configuration.md", command)
    assert bodies, f"docs/configuration.md has no section whose heading has `{command}`"
    text = "\n".join(bodies)
    for action in options:
        for flag in action.option_strings:
            assert re.search(rf"`{re.escape(flag)}[ `]", text), f"`{command}`: {flag}"
        if isinstance(action.default, str) and action.default != argparse.SUPPRESS:
            assert f"`{action.default}`" in text, f"`{command}`: default of {flag}"
        for choice in action.choices or ():
            assert f"`{choice}`" in text, f"`{command}`: choice {choice} of {flag}"


def test_every_config_key_and_environment_variable_is_documented():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    keys = (
        config._TOP_LEVEL_KEYS
        | config._LISTENER_KEYS
        | config._STORAGE_KEYS
        | config._VAULT_ONLY_KEYS
        | set(config.LOG_LEVELS)
        | {KEY_ENV, SECRET_ENV}
    )
    # A block key counts in its stanza form too: `listener "tcp"`.
    assert sorted(k for k in keys if not re.search(rf"`{re.escape(k)}[` ]", text)) == []


# -- links ----------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading, _ in sections(page)[1:]:
        slug = _slug(heading)
        count = seen.get(slug, 0)
        anchors.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return anchors


def _links(page: Path) -> Iterator[str]:
    for line, prose in _lines_outside_code(page.read_text(encoding="utf-8")):
        if prose:
            line = re.sub(r"`[^`]*`", "", line)
            yield from re.findall(r"\]\(([^)\s]+)\)", line)


@pytest.mark.parametrize("page", [ROOT / "README.md", *PAGES], ids=lambda p: p.name)
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto: and the like
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert broken == []


def test_every_page_is_linked_from_the_readme():
    readme = set(_links(ROOT / "README.md"))
    assert [p.name for p in PAGES if f"docs/{p.name}" not in readme] == []
