"""Where ``snncompile verify`` puts its report: ``--report FILE`` (.json or .html, repeatable), ``--plots DIR``
and ``--json`` (the JSON on stdout). Every file is written atomically; checks run before the ladder does."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..atomic import describe_os_error, write_dir, write_file
from ..errors import InputError, OutputError
from ..graph import Graph
from ..outdir import check_output_file

REPORT_SUFFIXES = (".json", ".html", ".htm")
PLOT_NAMES = ("agreement.png", "rasters.png", "membrane.png", "readout.png")


def check_destinations(reports: Sequence[str], plots: str | None) -> None:
    """Refuse a bad ``--report`` / ``--plots`` before any work."""
    import importlib.util

    pictures = [r for r in reports if Path(r).suffix.lower() != ".json"] + ([plots] if plots is not None else [])
    if pictures and importlib.util.find_spec("matplotlib") is None:
        raise InputError(f"'{pictures[0]}': the figures need matplotlib, which is not installed "
                         "(pip install 'snncompile[cli]', or ask for a .json report)")
    for report in reports:
        if Path(report).suffix.lower() not in REPORT_SUFFIXES:
            raise InputError(f"--report '{report}': the file name must end in .json (the JSON report) or .html "
                             "(the page with figures)")
        check_output_file(report, "--report")
    if plots is not None:
        path = Path(plots)
        if path.exists() and not path.is_dir():
            raise InputError(f"--plots '{plots}' is not a folder")
        if path.is_dir():
            foreign = sorted(set(os.listdir(path)) - set(PLOT_NAMES))
            if foreign:
                raise InputError(f"--plots '{plots}' holds files this command did not write ({', '.join(foreign[:3])}"
                                 f"{', ...' if len(foreign) > 3 else ''}); give a new or empty folder")


def write_outputs(report: Any, graph: Graph, *, reports: Sequence[str], plots: str | None, sample: int,
                  progress: Callable[[str], None]) -> None:
    """Write every requested report file and the plots folder; figures are drawn once for both."""
    pngs: dict[str, bytes] | None = None
    if plots is not None or any(Path(r).suffix.lower() != ".json" for r in reports):
        from .html import figures

        progress(f"drawing the report's figures (sample {sample})")
        pngs = figures(report, graph, sample)
    for name in reports:
        if Path(name).suffix.lower() == ".json":
            data = (report.to_json() + "\n").encode()
        else:
            from .html import render

            data = render(report, graph, sample, pngs).encode()
        _write(Path(name), data, "--report")
        progress(f"wrote {name}")
    if plots is not None and pngs is not None:
        try:
            write_dir(plots, pngs)
        except OSError as exc:
            raise OutputError(f"--plots '{plots}': {describe_os_error(exc)}") from None
        progress(f"wrote {plots}/ ({', '.join(pngs)})")


def _write(path: Path, data: bytes, option: str) -> None:
    try:
        write_file(path, data)
    except OSError as exc:
        raise OutputError(f"{option} '{path}': {describe_os_error(exc)}") from None
