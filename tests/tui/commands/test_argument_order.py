"""Every command takes its options and positionals in any order (issue 11)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tui.commands.cli import build_parser, main


def _commands() -> dict[str, argparse.ArgumentParser]:
    subparsers = next(a for a in build_parser()._actions
                      if isinstance(a, argparse._SubParsersAction))
    return dict(subparsers.choices)


def _value(action: argparse.Action) -> list[str]:
    """Arguments that ``action`` accepts: a choice, a number or a name."""
    if action.choices:
        first = next(iter(action.choices))
        return [str(first)]
    if action.type in (None, str, Path):
        return ["x.yml"]
    return ["3"]  # numbers, seconds, speeds


def _positionals(parser: argparse.ArgumentParser) -> list[str]:
    out: list[str] = []
    for action in parser._actions:
        if action.option_strings or action.nargs == argparse.SUPPRESS:
            continue
        count = 2 if action.nargs in ("+", "*") else (
            action.nargs if isinstance(action.nargs, int) else 1)
        for _ in range(count):
            out += _value(action)
    return out


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """One flag and one option with a value, where the command has them."""
    flags = [a for a in parser._actions if a.option_strings and a.nargs == 0
             and isinstance(a, argparse._StoreTrueAction)]
    valued = [a for a in parser._actions if a.option_strings and a.nargs is None
              and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]
    out: list[str] = []
    for action in parser._actions:  # a required option (what-if's --twin) always comes along
        if action.option_strings and action.required and action is not (valued or [None])[-1]:
            out += [action.option_strings[-1], *([] if action.nargs == 0 else _value(action))]
    if flags:
        out.append(flags[0].option_strings[-1])
    if valued:
        out += [valued[-1].option_strings[-1], *_value(valued[-1])]
    return out


COMMANDS = _commands()
ORDERED = sorted(name for name, parser in COMMANDS.items()
                 if not any(a.nargs == argparse.REMAINDER for a in parser._actions))


def test_every_command_is_covered():
    assert {"run", "validate", "replay", "compare", "report", "export", "scaling",
            "find-capacity"} <= set(ORDERED)
    assert set(COMMANDS) - set(ORDERED) == {"sandbox"}  # passes its arguments on unparsed


@pytest.mark.parametrize("command", ORDERED)
def test_options_may_come_before_between_or_after_positionals(command):
    parser = build_parser()
    positionals, options = _positionals(COMMANDS[command]), _options(COMMANDS[command])
    assert options, f"{command} has no options to move"
    first = parser.parse_args([command, *options, *positionals])
    last = parser.parse_args([command, *positionals, *options])
    assert vars(first) == vars(last)
    if len(positionals) >= 2:
        middle = parser.parse_args([command, positionals[0], *options, *positionals[1:]])
        assert vars(middle) == vars(first)


def test_the_case_from_the_issue(capsys, tmp_path):
    args = build_parser().parse_args(["scaling", "disable", "--mode", "delete", "my.yml"])
    assert (args.action, args.mode, str(args.profile)) == ("disable", "delete", "my.yml")
    profile = tmp_path / "p.yml"
    profile.write_text("config:\n  phases: [{duration: 1, arrivalRate: 1}]\n"
                       "scenarios: [{flow: [{get: {url: /ping}}]}]\n")
    assert main(["validate", str(profile), "--target", "http://127.0.0.1:9"]) == 0
    assert "target: http://127.0.0.1:9" in capsys.readouterr().out
    # with no command, `run` is meant: the same holds there
    args = build_parser().parse_args(["run", str(profile), "--headless", "--seed", "4"])
    assert (args.profile, args.headless, args.seed) == (profile, True, 4)


def test_the_sandbox_command_still_passes_everything_on():
    args = build_parser().parse_args(["sandbox", "--port", "0", "--realistic"])
    assert args.arguments == ["--port", "0", "--realistic"]
