"""The ``anoonly`` console script: the command's own Rust code (``anoonly_cli``), run in
this process by the extension, so ``pip install`` gives the same ``anoonly eval``,
``fit``, ``score``, ``demo`` and ``bench`` as ``cargo install``."""

from __future__ import annotations

import signal
import sys

from anoonly import _anoonly


def main() -> None:
    """Runs ``anoonly`` with ``sys.argv`` and exits with its status (0, 1 or 2)."""
    # Ctrl-C ends the command at once, as it ends the native binary: Python's own handler
    # would only set a flag that nothing reads while the Rust code runs.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(_anoonly.run_cli(["anoonly", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
