"""`python -m aura_sentinel` and the `aura-sentinel` command.

The stop signals are handled before the command line (and its libraries) is imported, so that
Ctrl-C or SIGTERM in the first moments of a run ends with one line, not a traceback.
"""

import signal

from aura_sentinel.stopping import STOP_SIGNALS, stop_while_starting


def main() -> None:
    for number in STOP_SIGNALS:
        signal.signal(number, stop_while_starting)
    from aura_sentinel.cli import main as run_command

    run_command()


if __name__ == "__main__":
    main()
