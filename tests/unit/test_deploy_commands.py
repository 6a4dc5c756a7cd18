"""Every deploy command the docs give parses with the command line it is meant for: the
`lithops runtime ...` ones with the installed Lithops' own CLI (its options, its arguments),
the `comicocr ...` ones with ours. What cannot run here (a cloud account) is at least spelt right."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import typer

from comicocr.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    ROOT / "runtimes" / "README.md",
    *sorted((ROOT / "runtimes").glob("lithops.*.yaml")),
]
COMMAND = re.compile(
    r"(?:lithops runtime|comicocr (?:run|consume|enqueue|notify|redrive|status|estimate)) [^`\n]+"
)


def commands() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        if doc.name == "README.md" and doc.parent == ROOT:  # its Deploy section; the rest is a tour
            text = text.partition("\n## Deploy\n")[2].partition("\n## ")[0]
        text = re.sub(r"\\\n#?\s*", " ", text)  # continued lines, in a shell block or a YAML comment
        for match in COMMAND.finditer(text):
            line = match.group(0).split(" # ")[0].strip()
            if not re.search(r"\.\.\.|<|\[", line):  # an elided example or a synopsis, not a command
                found.append((doc.name, line))
    return found


def _args(words: list[str]) -> list[str]:
    """The user's copy of an example config is named like it: read runtimes/<name> instead."""
    out = []
    for word in words:
        path = Path(word)
        if word.endswith((".yaml", ".Dockerfile")) and not (ROOT / path).exists():
            out.append(str(ROOT / "runtimes" / path.name))
        elif (ROOT / path).exists():
            out.append(str(ROOT / path))
        else:
            out.append(word)
    return out


def test_the_docs_give_deploy_commands() -> None:
    found = {line.split()[0] + " " + line.split()[1] + " " + line.split()[2] for _, line in commands()}
    assert {"lithops runtime build", "lithops runtime deploy", "comicocr run --lithops-config"} <= found


@pytest.mark.parametrize(("doc", "line"), commands())
def test_each_command_parses(doc: str, line: str) -> None:
    words = shlex.split(line)
    if words[0] == "lithops":
        from lithops.scripts.cli import lithops_cli

        group: click.Group = lithops_cli
    else:
        group = typer.main.get_command(app)  # type: ignore[assignment]
    name, *rest = _args(words[1:])
    command = group.get_command(click.Context(group), name)
    assert command is not None, line
    if isinstance(command, click.Group):  # lithops runtime build ...
        sub, *rest = rest
        command = command.get_command(click.Context(command), sub)
        assert command is not None, line
    command.make_context(name, list(rest))  # raises on an unknown option or a missing argument
