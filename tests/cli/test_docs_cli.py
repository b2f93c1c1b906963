"""docs/cli.md matches the parser: every flag of every command in its synopsis, every --from convention."""

from __future__ import annotations

import argparse
import re

from conftest import REPO

from snncompile.cli import build_parser
from snncompile.frontend.conventions import CONVENTIONS

DOC = (REPO / "docs" / "cli.md").read_text()
SOURCE_FLAGS = {"--from", "--dt", "--discretization", "--reset", "--reset-delay", "--spikes"}


def synopses() -> dict[str, str]:
    block = DOC.split("## Synopses", 1)[1].split("```", 2)[1]
    found: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        m = re.match(r"snncompile (\w+) ", line)
        if m:
            current = m.group(1)
            found[current] = ""
        elif line.startswith("SOURCE ="):
            current = "SOURCE"
            found[current] = ""
        if current is not None:
            found[current] += line + "\n"
    return found


def test_every_flag_of_every_command_is_in_its_synopsis() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    docs = synopses()
    assert set(docs) - {"SOURCE"} == set(sub.choices)
    for name, p in sub.choices.items():
        text = docs[name]
        for action in p._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            longest = max(action.option_strings, key=len)
            source = any(o in SOURCE_FLAGS for o in action.option_strings)
            where = docs["SOURCE"] if source else text
            if source:
                assert "[SOURCE]" in text, name
            shown = [o for o in action.option_strings if re.search(re.escape(o) + r"(?![\w-])", where)]
            assert shown, f"{name}: {longest} is not in docs/cli.md's synopsis"


def test_every_convention_is_documented() -> None:
    table = DOC.split("## MODEL and the source convention", 1)[1].split("\n- ", 1)[0]
    listed = [c for c in re.findall(r"^\| `([\w-]+)`", table, flags=re.M) if c != "--from"]
    assert listed == list(CONVENTIONS) and len(listed) == 8


def test_the_repo_docs_stand_alone() -> None:
    for page in [*(REPO / "docs").glob("*.md"), REPO / "README.md"]:
        text = page.read_text()
        assert "ARCHITECTURE" not in text and "shared/data" not in text, page.name


def test_export_help_lists_the_targets_and_every_default(capsys: object) -> None:
    from snncompile.backends import available

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    export = sub.choices["export"]
    text = export.format_help()
    assert f"a backend, repeatable: {', '.join(available())}" in " ".join(text.split())
    for action in export._actions:
        if isinstance(action, argparse._HelpAction) or action.dest in ("quiet", "verbose", "output", "model"):
            continue
        assert action.help and "default" in action.help, f"export {action.option_strings}: no default in its help"
