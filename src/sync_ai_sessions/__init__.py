"""sync-ai-sessions: carry AI coding sessions between machines, encrypted end to end."""

__version__ = "0.1.0"
