"""snncompile.pages: numpy's huge-page advice off inside the block, the previous setting back after it, and the
command line runs its commands inside it."""

from __future__ import annotations

import pytest

from snncompile import pages


def test_small_pages_switches_numpy_advice_off_and_restores_it() -> None:
    setter = pages._setter()
    if setter is None:  # pragma: no cover - a numpy without the switch: nothing to check
        pytest.skip("this numpy has no _set_madvise_hugepage")
    for outer in (True, False):
        setter(outer)
        try:
            with pages.small_pages():
                assert setter(False) is False  # off inside (the call returns the current setting)
                with pages.small_pages():
                    assert setter(False) is False
                assert setter(False) is False  # the inner exit restored the outer block's setting
            assert setter(outer) is outer  # the previous setting is back
        finally:
            setter(True)


def test_the_command_line_runs_with_small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    setter = pages._setter()
    if setter is None:  # pragma: no cover
        pytest.skip("this numpy has no _set_madvise_hugepage")
    from snncompile import cli

    seen: list[bool] = []

    def command(args: object) -> int:
        seen.append(setter(False))  # the setting while the command runs
        return 0

    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), command))
    setter(True)
    assert cli.main(["models"]) == 0 and seen == [False]
    assert setter(True) is True  # restored after the command


def _with_func(parser: object, func: object) -> object:
    real = parser.parse_args  # type: ignore[attr-defined]

    def parse_args(argv: object = None) -> object:
        args = real(argv)
        args.func = func
        return args

    parser.parse_args = parse_args  # type: ignore[attr-defined]
    return parser
