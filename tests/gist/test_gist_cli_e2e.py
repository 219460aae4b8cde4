"""send -> secret gist -> receive --gist through our real CLI, the real gh and the loopback gist server."""

from __future__ import annotations

import pytest
from support.machines import git_repo, make_machine, write_demo_session

from sync_ai_sessions.transports.gist import MARKER

pytestmark = pytest.mark.realgh


def test_send_and_receive_through_a_gist(server, env, tmp_path):
    gh_env = {k: v for k, v in env.items() if k not in ("HOME", "PATH", "GH_CONFIG_DIR")}
    a = make_machine(tmp_path, "A", **gh_env, GH_CONFIG_DIR=str(tmp_path / "ghA"))
    b = make_machine(tmp_path, "B", **gh_env, GH_CONFIG_DIR=str(tmp_path / "ghB"))
    ra = git_repo(a.root / "src" / "proj", "git@github.com:octo/secret-proj.git")
    rb = git_repo(b.root / "dev" / "proj", "https://github.com/octo/secret-proj")
    write_demo_session(a, ra, "s1", sidecar="private notes")

    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra))
    assert rc == 0, doc
    gid = doc["gist"]
    assert doc["receive"] == f"sync-ai-sessions receive --gist {gid}"
    assert server.gists[gid].public is False and server.gists[gid].description == MARKER
    # the wire carries nothing readable about the repo, the machine or the session
    wire = b"".join(r.body + r.path.encode() for r in server.requests)
    for needle in (b"secret-proj", b"octo", str(ra).encode(), b"private notes", b"s1.jsonl", b"demo"):
        assert needle not in wire

    rc, doc = b.run_json("receive", "--gist", gid, "--cwd", str(rb), "--delete")
    assert rc == 0, doc
    assert [i["action"] for i in doc["imported"]] == ["new"]
    assert gid not in server.gists  # --delete removed it

    rc, doc = b.run_json("receive", "--gist", gid, "--cwd", str(rb))
    assert rc == 3 and doc["error"]["code"] == "no_gist" and "not found" in doc["error"]["message"]


def test_send_logged_out_fails_with_the_fix(server, env, tmp_path):
    gh_env = {k: v for k, v in env.items() if k not in ("HOME", "PATH", "GH_ENTERPRISE_TOKEN")}
    a = make_machine(tmp_path, "A", **gh_env)
    ra = git_repo(a.root / "proj", "git@github.com:o/r.git")
    write_demo_session(a, ra, "s1")
    rc, doc = a.run_json("send", "--tool", "demo", "--cwd", str(ra))
    assert rc == 5 and doc["error"]["code"] == "gh_logged_out"
    assert doc["error"]["message"].endswith(f"run `gh auth login --hostname {server.host}`")
    assert not [r for r in server.requests if r.method == "POST"]
