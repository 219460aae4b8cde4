"""One module per command; each exposes a library function that the thin CLI (`cli.py`) calls."""
