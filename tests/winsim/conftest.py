"""The loopback gist server fixtures, shared with tests/gist."""

from gist.conftest import env, gh_env, server  # noqa: F401
