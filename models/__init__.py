"""Bundled reference models, addressable by name (``snncompile inspect digits-mlp``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def names() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir() if (p / "model.nir").is_file())


def path(name: str) -> Path | None:
    """The ``model.nir`` of a bundled model, or None when no such model is bundled."""
    candidate = ROOT / name / "model.nir"
    return candidate if candidate.is_file() else None
