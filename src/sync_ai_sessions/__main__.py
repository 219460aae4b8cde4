"""`python -m sync_ai_sessions` and the `sync-ai-sessions` / `aisessions` commands.

The key derivation a command will need starts first (`sync_ai_sessions.early`), then the program is
imported and run.
"""

import os
import sys

from sync_ai_sessions import early


def main() -> None:
    early.start(sys.argv[1:])
    from sync_ai_sessions.cli import main as cli

    # One name for help, usage and shell completion (`_SYNC_AI_SESSIONS_COMPLETE`), however it was started.
    name = os.path.basename(sys.argv[0]).removesuffix(".exe")
    cli(prog_name=name if name in ("sync-ai-sessions", "aisessions") else "sync-ai-sessions",
        complete_var="_SYNC_AI_SESSIONS_COMPLETE")


if __name__ == "__main__":
    main()
