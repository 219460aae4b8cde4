"""Errors that reach the user as one clear line, each with a stable code and exit status.

Exit codes (documented in README, stable for scripts):
  0 ok, 1 internal error, 2 usage, 3 not found (repo, remote, sessions, gist, file),
  4 crypto (wrong passphrase, tampered or truncated payload, unsupported format),
  5 auth (gh missing, logged out, no gist scope), 6 conflict/busy (lock held, files changed),
  7 I/O (disk full, permission), 8 network (gist server unreachable after retries),
  130 stopped at a prompt (Ctrl-C, Ctrl-D, or "no" to a question): nothing was changed.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class: `code` is the stable machine-readable id, `exit_code` the process status."""

    code = "error"
    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.hint = hint


class UsageError(SyncError):
    code = "usage"
    exit_code = 2


class NotFoundError(SyncError):
    code = "not_found"
    exit_code = 3


class CryptoError(SyncError):
    code = "crypto"
    exit_code = 4


class FormatError(CryptoError):
    """The payload is not ours, of an unsupported version, or breaks a documented limit."""

    code = "format"


class AuthError(SyncError):
    code = "auth"
    exit_code = 5


class ConflictError(SyncError):
    code = "conflict"
    exit_code = 6


class IOFailure(SyncError):
    code = "io"
    exit_code = 7


class NetworkError(SyncError):
    code = "network"
    exit_code = 8


class UnsafePayloadError(FormatError):
    """A manifest entry that would write outside the tool's session folder, or is otherwise hostile."""

    code = "unsafe_payload"


class Declined(SyncError):
    """The user answered "no" at a question (e.g. send despite secrets): stopped, nothing changed."""

    code = "declined"
    exit_code = 130


class Interrupted(SyncError):
    """Ctrl-C after something was already done (a receive --delete stopped once the import was in):
    the message says what was done, instead of the usual "nothing was changed"."""

    code = "interrupted"
    exit_code = 130
