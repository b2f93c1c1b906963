"""The verify report as pictures: :mod:`.plots` (PNG figures) and :mod:`.html` (one self-contained page)."""
