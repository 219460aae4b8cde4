from sync_ai_sessions.cli import main

main()
