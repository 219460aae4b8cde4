"""Nothing that identifies the repo, the files, the sessions or the user is readable in the payload."""

from __future__ import annotations

import base64

from support.machines import git_repo, make_machine, write_demo_session


def test_no_identifier_in_the_payload_bytes(tmp_path):
    a = make_machine(tmp_path, "A")
    repo = git_repo(a.root / "zebra-secret-project", "git@github.com:owner-quokka/repo-narwhal.git")
    write_demo_session(a, repo, "session-id-pangolin", sidecar="sidecar text axolotl",
                       lines=[{"text": "prompt wombat " * 50}])
    out = tmp_path / "h.sais"
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(repo), "--to", str(out))
    assert rc == 0, doc
    blob = out.read_bytes()
    needles = ["zebra-secret-project", "owner-quokka", "repo-narwhal", "session-id-pangolin", "axolotl",
               "wombat", "notes.txt", "sessions/", ".jsonl", "github.com", str(a.home), "SAISARC1", "SAISARC2",
               "demo", "correct horse"]
    for n in needles:
        for form in (n.encode(), n.encode("utf-16-le"), base64.b64encode(n.encode())[:-2]):
            assert form not in blob, n
