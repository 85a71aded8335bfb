"""--ray without the ray extra, or with no cluster there: exit 2, one line saying which, and
no load sent (no Ray cluster needed)."""

from __future__ import annotations

import sys

import pytest

from tests.driver.session.test_session import profile_text
from tui.commands import cli


def test_without_ray_installed_run_says_so_in_one_line(target_server, write_profile, capsys,
                                                       monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    path = write_profile(profile_text(target_server.url, "    - {duration: 1, arrivalRate: 5}"))
    code = cli.main(["run", str(path), "--ray", "--headless", "--no-record"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "loadwatch: Ray is not installed: pip install 'loadwatch[ray]'"
    assert target_server.requests == 0


def test_an_unreachable_cluster_is_named_in_one_line(target_server, write_profile, capsys):
    pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'",
                          exc_type=ImportError)
    path = write_profile(profile_text(target_server.url, "    - {duration: 1, arrivalRate: 5}"))
    code = cli.main(["run", str(path), "--ray", "127.0.0.1:9", "--headless", "--no-record"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("loadwatch: cannot reach the Ray cluster at 127.0.0.1:9")
    assert len(err.strip().splitlines()) == 1, err
    assert target_server.requests == 0
