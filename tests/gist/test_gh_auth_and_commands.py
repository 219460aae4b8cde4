"""gh checks (installed / logged in / gist scope) and the list/delete/prune commands, through the real gh."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sync_ai_sessions.commands.handoffs import delete_cmd, list_cmd, prune_cmd
from sync_ai_sessions.errors import AuthError
from sync_ai_sessions.gh import fix_login
from sync_ai_sessions.ghauth import check_gh, fix_scope, require_gh_for_gists
from sync_ai_sessions.transports.gist import GistTransport
from sync_ai_sessions.transports.gist_encoding import MARKER, PART_MARKER

pytestmark = pytest.mark.realgh


def test_check_gh_ok(server, env):
    st = check_gh(env)
    assert st.ok and st.installed and st.logged_in and st.has_gist_scope is True
    assert st.user == "alice" and st.host == server.host and "gist" in st.scopes
    assert require_gh_for_gists(env).ok


def test_token_without_classic_scopes_is_accepted(server, env):
    server.add_token("fine-grained", scopes=None)  # no X-OAuth-Scopes header at all
    st = check_gh(dict(env, GH_ENTERPRISE_TOKEN="fine-grained"))
    assert st.ok and st.has_gist_scope is None


def test_logged_out_gives_the_exact_fix(server, env, tmp_path):
    logged_out = {k: v for k, v in env.items() if k != "GH_ENTERPRISE_TOKEN"}
    st = check_gh(logged_out)
    assert not st.logged_in and st.code == "gh_logged_out"
    assert st.fix == f"gh auth login --hostname {server.host}"
    with pytest.raises(AuthError) as ei:
        GistTransport(logged_out).upload(_file(tmp_path))
    assert ei.value.exit_code == 5 and "\n" not in ei.value.message
    assert ei.value.message.endswith(f"run `gh auth login --hostname {server.host}`")
    assert not [r for r in server.requests if r.method == "POST"]
    # a token the server rejects is "not logged in" too
    st = check_gh(dict(env, GH_ENTERPRISE_TOKEN="revoked"))
    assert st.code == "gh_logged_out" and st.fix == f"gh auth login --hostname {server.host}"


def test_missing_gist_scope_gives_the_exact_fix(server, env, tmp_path):
    server.add_token("no-gist", scopes="repo, read:org")
    env = dict(env, GH_ENTERPRISE_TOKEN="no-gist")
    st = check_gh(env)
    assert st.logged_in and st.has_gist_scope is False and st.code == "gh_no_gist_scope"
    with pytest.raises(AuthError) as ei:
        GistTransport(env).upload(_file(tmp_path))
    assert ei.value.message == (
        f"gh's login on {server.host} lacks the `gist` scope: run `gh auth refresh --hostname {server.host} -s gist`"
    )
    assert not [r for r in server.requests if r.method == "POST"]


def test_fixes_for_github_com_are_the_documented_commands():
    assert fix_login("github.com") == "gh auth login"
    assert fix_scope("github.com") == "gh auth refresh -s gist"


def test_gh_missing_is_a_clear_error(env, tmp_path):
    no_gh = dict(env, PATH=str(tmp_path))
    st = check_gh(no_gh)
    assert not st.installed and st.code == "gh_missing"
    with pytest.raises(AuthError) as ei:
        GistTransport(no_gh).upload(_file(tmp_path))
    assert ei.value.code == "gh_missing" and "https://cli.github.com" in ei.value.message
    with pytest.raises(AuthError) as ei:
        GistTransport(no_gh).download("0123456789abcdef0123", tmp_path / "x")
    assert ei.value.code == "gh_missing"


def _file(tmp_path, size=3_000):
    p = tmp_path / "payload.bin"
    p.write_bytes(os.urandom(size))
    return p


# ---------------------------------------------------------------------------------- commands --
def _run(cmd, args, env):
    hermetic = {k: None for k in os.environ if k not in env} | env  # None removes the variable
    return CliRunner().invoke(cmd, args, env=hermetic, catch_exceptions=False)


def test_list_delete_prune(server, env, tmp_path):
    t = GistTransport(env, part_size=2_000, parts_per_gist=2)
    old = t.upload(_file(tmp_path, 9_000))  # 5 parts, 3 gists
    new = t.upload(_file(tmp_path, 1_000))
    for gid in old.extra["gists"]:
        server.gists[gid].created_at = "2020-01-01T00:00:00Z"
    orphan = server.create_gist("alice", PART_MARKER, {"part-0001.txt": "QUJD"}, created_at="2020-01-02T00:00:00Z")
    server.create_gist("alice", "my dotfiles", {"a.txt": "x"}, created_at="2020-01-01T00:00:00Z")
    server.create_gist("bob", MARKER, {"index.json": "{}"})  # someone else's
    # push ours past the first page: 120 newer gists of the user's own
    for i in range(120):
        server.create_gist("alice", f"notes {i}", {"n.txt": "x"}, created_at="2030-01-01T00:00:00Z")

    res = _run(list_cmd, ["--json"], env)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["ok"] is True
    ids = [h["id"] for h in doc["handoffs"]]
    assert ids == [new.ref, orphan.id, old.ref]  # newest first; the other gists are not ours
    by_id = {h["id"]: h for h in doc["handoffs"]}
    assert by_id[old.ref]["size"] == 9_000 and by_id[old.ref]["parts"] == 5
    assert by_id[old.ref]["gists"] == old.extra["gists"][1:]
    assert by_id[new.ref]["size"] == 1_000 and by_id[old.ref]["age_seconds"] > 86400 * 365
    assert by_id[orphan.id]["kind"] == "orphan-part"
    pages = [r.path for r in server.requests if r.path.startswith("/api/v3/gists?")]
    assert len(pages) == 2  # followed the Link header
    # nothing is decrypted or downloaded in full: only listing pages and the tiny index files
    assert not [r for r in server.requests if r.path.startswith("/api/v3/gists/")]

    res = _run(list_cmd, [], env)
    assert res.exit_code == 0 and new.ref in res.output and "9.0 kB" in res.output  # ui.human_size

    res = _run(prune_cmd, ["--older-than", "30", "--dry-run", "--json"], env)
    doc = json.loads(res.output)
    assert sorted(h["id"] for h in doc["would_delete"]) == sorted([orphan.id, old.ref])
    assert old.ref in server.gists

    res = _run(prune_cmd, ["--older-than", "30", "--json"], env)
    assert res.exit_code == 0
    for gid in [*old.extra["gists"], orphan.id]:
        assert gid not in server.gists
    assert new.ref in server.gists

    res = _run(delete_cmd, [new.ref, "--json"], env)
    assert json.loads(res.output) == {"ok": True, "deleted": [new.ref]}
    assert new.ref not in server.gists
    assert len([g for g in server.gists.values() if g.owner == "alice"]) == 121  # others untouched

    res = _run(delete_cmd, [new.ref, "--json"], env)
    assert res.exit_code == 3
    err = json.loads(res.output)["error"]
    assert err["code"] == "no_gist" and "not found" in err["message"]

    mine = next(g for g in server.gists.values() if g.description == "my dotfiles")
    res = _run(delete_cmd, [mine.id], env)
    assert res.exit_code == 4 and "not a sync-ai-sessions handoff" in res.output
    assert mine.id in server.gists


def test_cli_list_through_the_entry_point(server, env):
    """The lead's CLI registers our commands: `python -m sync_ai_sessions list --json`."""
    proc = subprocess.run(
        [sys.executable, "-m", "sync_ai_sessions", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "No such command" in proc.stderr:
        pytest.skip("the CLI does not register the handoff commands yet")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"ok": True, "handoffs": []}


def test_logged_out_on_github_com_with_the_real_gh(tmp_path):
    """No GH_HOST, no token, empty config: the real gh refuses before any network call."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GH_CONFIG_DIR": str(tmp_path / "cfg")}
    st = check_gh(env)
    assert st.host == "github.com" and st.code == "gh_logged_out" and st.fix == "gh auth login"
    with pytest.raises(AuthError) as ei:
        require_gh_for_gists(env)
    assert ei.value.message == "GitHub CLI is not logged in to github.com: run `gh auth login`"


def test_missing_gist_scope_on_github_com(tmp_path):
    """A stand-in gh answering `gh api -i user` as github.com does for a token without `gist`."""
    fake = tmp_path / "bin" / "gh"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\nprintf \'HTTP/2.0 200 OK\\nX-Oauth-Scopes: repo, read:org\\r\\n\\r\\n{"login":"alice"}\'\n'
    )
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:/bin", "HOME": str(tmp_path)}
    with pytest.raises(AuthError) as ei:
        require_gh_for_gists(env)
    assert ei.value.message == "gh's login on github.com lacks the `gist` scope: run `gh auth refresh -s gist`"
    assert ei.value.hint == "gh auth refresh -s gist"


@pytest.mark.parametrize("kind", ["drop-after", "502-after"])
def test_a_create_whose_answer_was_lost_is_found_not_duplicated(server, env, tmp_path, kind):
    """GitHub made the gist but the answer was lost (or a proxy answered 502): before creating again the
    transport looks for the upload's own marker (its ciphertext) among the user's gists, and adopts it."""
    t = GistTransport(env, part_size=2_000, parts_per_gist=2, workers=1)
    server.add_fault("POST", r"/gists$", kind)  # the first POST is a part gist
    # a concurrent send's part gist, same files and sizes: must not be mistaken for ours
    server.create_gist("alice", PART_MARKER, {"part-0001.txt": "A" * 2668, "part-0002.txt": "B" * 2668})
    stored = t.upload(_file(tmp_path, 6_000))
    assert len(server.gists) == 3  # the handoff's 2 gists + the other send's: nothing duplicated
    assert len([r for r in server.requests if r.method == "POST"]) == 2
    t.download(stored.ref, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == (tmp_path / "payload.bin").read_bytes()
    res = _run(list_cmd, ["--json"], env)
    kinds = sorted(h["kind"] for h in json.loads(res.output)["handoffs"])
    assert kinds == ["handoff", "orphan-part"]  # the other send's part only
    assert server.violations == []
