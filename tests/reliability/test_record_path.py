"""`--record` refuses the run's own inputs and paths it cannot write, before any load."""

from __future__ import annotations

import pytest

from tui.commands.cli import main

PROFILE = """config:
  target: http://127.0.0.1:9
  payload: {path: rows.csv, fields: [a, b]}
  phases:
    - {duration: 1, arrivalRate: 1}
scenarios:
  - flow:
      - get: {url: "/x?a={{ a }}"}
"""


@pytest.mark.parametrize(("record", "message"), [
    ("p.yml", "is this run's input"),
    ("rows.csv", "is this run's input"),
    (".", "is a folder; name a file in it"),
    ("p.yml/x.jsonl", "cannot write there"),
])
def test_a_bad_record_path_fails_before_any_load(tmp_path, monkeypatch, capsys, record,
                                                 message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yml").write_text(PROFILE)
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    assert main(["run", "--headless", "--record", record, "p.yml"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert (tmp_path / "p.yml").read_text() == PROFILE
    assert (tmp_path / "rows.csv").read_text() == "a,b\n1,2\n"
