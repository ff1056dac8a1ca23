"""`nas --help` and `nas COMMAND` import only what they run: the command table lists every
command with its help, and a command's module is imported when that command runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nas.cli import _COMMANDS, build_parser, main


def _subcommands(parser) -> dict[str, str]:
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {a.dest: a.help for a in sub._choices_actions}


def test_the_command_table_says_what_the_modules_register() -> None:
    registered = _subcommands(build_parser())
    assert registered == {cmd: help_text for cmd, (_, help_text) in _COMMANDS.items()}
    for cmd in _COMMANDS:  # built alone, each command gets its module's own parser
        parser = build_parser([cmd])
        assert parser._subparsers is not None
        assert _subcommands(parser)[cmd] == _COMMANDS[cmd][1]


def _modules_after(argv: list[str]) -> list[str]:
    probe = (
        "import contextlib, io, json, sys\nfrom nas.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('nas.cli.'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_help_imports_no_command_module() -> None:
    assert _modules_after(["--help"]) == []


def test_a_command_imports_its_module_only() -> None:
    assert _modules_after(["spaces", "--json"]) == ["nas.cli._common", "nas.cli._spaces"]


@pytest.mark.parametrize(
    ("argv", "word"),
    [(["store", "--help"], "query"), (["--debug", "predictor", "--help"], "rank")],
)
def test_a_command_after_options_still_has_its_full_parser(argv, word, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    assert word in capsys.readouterr().out


def test_an_unknown_command_is_one_line_and_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["spacez"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "spacez" in err


def test_python_dash_m_nas_runs_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nas", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "spaces" in out and "predictor" in out
