"""`python -m sync_ai_sessions` and the `sync-ai-sessions` / `aisessions` commands.

The key derivation a command will need starts first (`sync_ai_sessions.early`), then the program is
imported and run.
"""

import sys

from sync_ai_sessions import early


def main() -> None:
    early.start(sys.argv[1:])
    from sync_ai_sessions.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
