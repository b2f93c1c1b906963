"""``python -m snncompile``: the same as the ``snncompile`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
