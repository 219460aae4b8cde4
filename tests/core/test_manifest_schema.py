"""docs/manifest.schema.json describes what the writer really writes: the manifest `send` puts in a
handoff, for every adapter on its real fixtures, validates; the manifests of the test vectors that a
reader must refuse for their manifest do not (where a schema can say so)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import jsonschema
import pytest
from contract.subjects import SUBJECTS, Subject
from support.machines import git_repo, in_process, make_machine

from sync_ai_sessions.format.container import DecryptReader

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "manifest.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
VECTORS = ROOT / "tests" / "vectors"
PW = "correct horse battery staple 42"
# Reject rules of docs/FORMAT.md a schema cannot express: collisions after case folding / NFC, a length
# in UTF-8 bytes, a count of files.
NOT_IN_SCHEMA = {"session-id-duplicate", "name-collide-case", "name-collide-nfc", "name-long"}


def manifest_of(handoff: Path, passphrase: str = PW) -> dict:
    """The manifest record of a handoff, read without the archive's own checks."""
    with open(handoff, "rb") as fh, DecryptReader(fh, passphrase) as r:
        head = r.read(13)
        assert head[:9] == b"SAISARC2M"
        (n,) = struct.unpack(">I", head[9:13])
        return json.loads(r.read(n))


def test_the_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("subject", SUBJECTS, ids=lambda s: s.tool)
def test_what_send_writes_validates(tmp_path: Path, subject: Subject):
    m = make_machine(tmp_path, "A")
    repo = git_repo(m.root / "src" / "proj", "git@github.com:o/r.git")
    subject.plant(m.home, repo)
    out = tmp_path / "h.sais"
    in_process(m, "send", "--tool", subject.tool, "--cwd", str(repo), "--to", str(out))
    doc = manifest_of(out)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc)]
    assert not errors, errors
    assert doc["tool"] == subject.tool and doc["sessions"]


def test_the_vectors_that_open_validate():
    for v in json.loads((VECTORS / "vectors.json").read_text()):
        if v["expect"] == "ok" and v["file"].startswith("v2-"):
            VALIDATOR.validate(manifest_of(VECTORS / v["file"], v["passphrase"]))


def _manifest_rejects() -> list[dict]:
    return [v for v in json.loads((VECTORS / "vectors.json").read_text())
            if v.get("expect") in ("error:bad_manifest", "error:unsafe_payload")]


@pytest.mark.parametrize("v", _manifest_rejects(), ids=lambda v: v["rule"])
def test_a_manifest_the_spec_rejects_fails_the_schema(v):
    doc = manifest_of(VECTORS / v["file"], v["passphrase"])
    if v["rule"] in NOT_IN_SCHEMA:
        assert VALIDATOR.is_valid(doc), "the schema catches it now: take it off NOT_IN_SCHEMA"
    else:
        assert not VALIDATOR.is_valid(doc), v["rule"]
