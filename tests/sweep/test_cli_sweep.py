"""``snncompile sweep`` without Ray: one line saying how to install it (runs whether or not Ray is installed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from snncompile.cli import main


def test_command_without_ray_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError, as when not installed
    assert main(["sweep", "digits-mlp", "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == ("snncompile: error: sweep needs Ray, which is not installed: "
                                       "pip install 'snncompile[sweep]'\n")
    assert not (tmp_path / "out").exists()
