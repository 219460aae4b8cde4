"""The on-disk and wire format of a handoff, bottom up (docs/FORMAT.md is the normative text):

- `header`: the header's fields and limits, and scrypt (standard library only: `early` imports it first);
- `stream`: STREAM, the payload cut into AES-256-GCM chunks, counter nonces and the last-chunk flag;
- `container`: the keys (HKDF), the header MAC and zstd around the STREAM, as file-like writer/reader;
- `archive`: the inner archive (manifest and files) that the container's plaintext carries.

This package imports nothing itself, so that importing `format.header` stays cheap.
"""
