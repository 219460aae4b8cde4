"""Each command's human output and its --json document come from one result (`sync_ai_sessions.results`).

For every command the same scenario is run twice through the real CLI, once with --json and once without;
the human output must be exactly what `results.render` makes of the result class rebuilt from the JSON
document (stdout and stderr equal; for send, stderr ends with it: what send says while it works comes
first).  A message
printed anywhere else, or data shown to people but missing from the document, fails these tests.  Then
list/delete/prune take the same error path as every other command, and `receive --delete` deletes
through the transport.
"""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from support.machines import git_repo, in_process, two_machines, write_demo_session

from sync_ai_sessions import results
from sync_ai_sessions.cli import main
from sync_ai_sessions.commands import handoffs
from sync_ai_sessions.transports.base import Handoff
from sync_ai_sessions.ui import UI


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Local times are rendered in this process and in the CLI's: one zone for both."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def world(tmp_path):
    a, b, ra, rb = two_machines(tmp_path, "dev/proj", "https://github.com/o/r")
    for m in (a, b):
        m.env["TZ"] = "UTC"
    write_demo_session(a, ra, "s1")
    write_demo_session(a, ra, "s2", lines=[{"type": "user", "text": "second"}])
    return a, b, ra, rb


def rendered(result: results.Result, capsys) -> tuple[str, str]:
    capsys.readouterr()
    assert results.render(result, UI()) == result.exit_code
    out = capsys.readouterr()
    return out.out, out.err


def from_json(cls, doc, **kw):
    """The typed result a document describes; it gives back that very document (same keys in the same
    order, same values), so the result's fields hold all of it."""
    result = cls.from_json(doc, **kw)
    assert json.dumps(result.to_json()) == json.dumps(doc)
    return result


def same(m, capsys, cls, *args, expect_rc=0, progress=False, **kw):
    """Run `args` with --json, then without; the human run's output is the render of the result rebuilt
    from the document (after the progress said during the work, for a command that says some: `progress`)."""
    rc, doc = m.run_json(*args)
    assert rc == expect_rc, doc
    human = m.run(*args)
    assert human.returncode == expect_rc, human.stderr
    out, err = rendered(from_json(cls, doc, **kw), capsys)
    assert out or err  # something to compare
    assert human.stdout == out
    if progress:
        assert human.stderr.endswith(err) and human.stderr != err, (human.stderr, err)
    else:
        assert human.stderr == err
    return doc, human


def test_sessions(world, capsys):
    a, _b, ra, _rb = world
    doc, human = same(a, capsys, results.SessionsResult, "sessions", "--tool", "demo", "--cwd", str(ra))
    assert len(doc["sessions"]) == 2 and "TOOL" in human.stdout and "s1" in human.stdout


def test_sessions_none(world, capsys, tmp_path):
    a = world[0]
    empty = git_repo(tmp_path / "empty", "https://github.com/o/empty")
    _doc, human = same(a, capsys, results.SessionsResult, "sessions", "--cwd", str(empty))
    assert human.stdout == "" and "No sessions for the repo" in human.stderr


def test_send_dry_run_and_send(world, capsys, tmp_path):
    a, _b, ra, _rb = world
    same(a, capsys, results.SendResult, "send", "--tool", "demo", "--cwd", str(ra), "--dry-run", progress=True)
    out = tmp_path / "h.sais"
    args = ("send", "--tool", "demo", "--cwd", str(ra), "--to", str(out), "--force")
    rc, doc = a.run_json(*args)
    assert rc == 0 and doc["file"] == str(out) and doc["bytes"] == out.stat().st_size
    human = a.run(*args)
    assert human.returncode == 0
    doc["bytes"] = out.stat().st_size  # compressed sizes may differ by a byte from one send to the next
    _, err = rendered(from_json(results.SendResult, doc), capsys)
    assert human.stderr.endswith(err) and human.stderr != err and "receive --from" in err


def test_send_result_keeps_a_gist_send_and_a_kept_summary_as_they_are():
    """A gist send's document (the transport's own keys after `receive`, then `copied`) and the summary an
    interrupted upload keeps (no `bytes` yet) both come back unchanged from their SendResult."""
    session = {"id": "s1", "title": None, "cwd": "", "last_activity": None, "lines": 1, "files": 1, "bytes": 9}
    summary = {"ok": True, "tool": "demo", "repo": "github.com/o/r", "repo_root": "/r", "sessions": [session],
               "plain_bytes": 99, "git": {"sender": None, "carried": None},
               "secrets": {"found": 0, "types": {}, "where": [], "detector": "regex", "redacted": 0}}
    kept = from_json(results.SendResult, summary)
    assert kept.bytes is None and kept.gist is None
    sent = {**summary, "bytes": 120, "gist": "a" * 32, "receive": f"sync-ai-sessions receive --gist {'a' * 32}",
            "url": "https://gist.github.com/x", "gists": ["a" * 32], "parts": 1, "host": "github.com",
            "resumed": True, "gists_reused": 1, "copied": False}
    result = from_json(results.SendResult, sent)
    assert result.extra == {"url": "https://gist.github.com/x", "gists": ["a" * 32], "parts": 1,
                            "host": "github.com", "resumed": True, "gists_reused": 1}
    dry = {**{k: summary[k] for k in ("ok", "tool", "repo", "repo_root", "sessions")}, "dry_run": True,
           "file": "/h.sais"}
    assert from_json(results.SendResult, dry).extra == {"file": "/h.sais"}


def test_inspect_receive_dry_run_receive_undo(world, capsys, tmp_path):
    a, b, ra, rb = world
    out = tmp_path / "h.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(out))[0] == 0
    same(b, capsys, results.InspectResult, "inspect", "--from", str(out), "--cwd", str(rb))
    doc, human = same(b, capsys, results.ReceiveResult, "receive", "--from", str(out), "--cwd", str(rb),
                      "--dry-run")
    assert doc["dry_run"] is True and "Dry run: nothing was written." in human.stderr
    # a real receive, then undo, twice (once per mode) so both runs see the same state
    rc, doc = b.run_json("receive", "--from", str(out), "--cwd", str(rb))
    assert rc == 0 and len(doc["imported"]) == 2
    rc, undone = b.run_json("undo")
    assert rc == 0 and undone["reverted"]
    human = b.run("receive", "--from", str(out), "--cwd", str(rb))
    assert human.returncode == 0
    expected_out, expected_err = rendered(from_json(results.ReceiveResult, doc), capsys)
    assert human.stdout == expected_out and human.stderr == expected_err
    assert "Continue with:" in human.stderr
    human = b.run("undo")
    assert human.returncode == 0
    _, expected_err = rendered(from_json(results.UndoResult, undone), capsys)
    assert human.stderr == expected_err and "reverted create:" in human.stderr


def test_install_and_doctor(world, capsys):
    _a, b, _ra, rb = world
    rc, doc = b.run_json("install", "--no-passphrase", "--transport", "file")
    assert rc == 0
    human = b.run("install", "--no-passphrase", "--transport", "file")
    assert human.returncode == 0
    fix = None
    if doc["gh"].get("problem"):
        from sync_ai_sessions.commands.doctor import gh_fix

        fix = gh_fix(doc["gh"].get("code"), doc["gh"].get("fix"))
    _, err = rendered(from_json(results.InstallResult, doc, gh_fix=fix), capsys)
    assert human.stderr == err and "Ready. Config in" in err
    same(b, capsys, results.DoctorResult, "doctor", "--cwd", str(rb))


def test_doctor_failure_is_exit_3_with_its_document(world, capsys):
    _a, b, _ra, _rb = world
    b.env["PATH"] = "/nonexistent"  # no gh, no git: gist transport configured -> gh is a failure
    (b.home / ".sync-ai-sessions").mkdir(mode=0o700)
    (b.home / ".sync-ai-sessions" / "config.json").write_text(json.dumps({"transport": "gist"}))
    doc, human = same(b, capsys, results.DoctorResult, "doctor", expect_rc=3)
    assert doc["ok"] is False and "FAIL" in human.stderr


def test_receive_delete_goes_through_the_transport(world, capsys, tmp_path):
    a, b, ra, rb = world
    out = tmp_path / "h.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(out))[0] == 0
    rc, doc = b.run_json("receive", "--from", str(out), "--cwd", str(rb), "--dry-run", "--delete")
    assert rc == 0 and "deleted" not in doc and out.exists()  # a dry run deletes nothing
    human = b.run("receive", "--from", str(out), "--cwd", str(rb), "--delete")
    assert human.returncode == 0, human.stderr
    assert not out.exists() and f"Deleted {out}." in human.stderr
    rc, doc = b.run_json("receive", "--from", str(out), "--cwd", str(rb), "--delete")
    assert rc == 3 and doc["error"]["code"] == "no_file"  # gone: the usual not-found error


def test_receive_delete_with_session_is_refused_before_anything(world, tmp_path):
    """--delete removes the whole handoff: with --session naming some of its sessions it would lose the
    others, so the pair is refused up front, nothing imported, the handoff kept."""
    a, b, ra, rb = world
    out = tmp_path / "h.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(out))[0] == 0
    rc, doc = b.run_json("receive", "--from", str(out), "--cwd", str(rb), "--session", "s1", "--delete")
    assert rc == 2 and doc["error"]["code"] == "usage" and "--session" in doc["error"]["message"], doc
    assert out.exists() and not (b.home / ".sais-demo").exists()
    rc, doc = b.run_json("receive", "--from", str(out), "--cwd", str(rb), "--session", "s1")
    assert rc == 0 and [i["id"] for i in doc["imported"]] == ["s1"] and out.exists()


def test_receive_delete_refused_by_a_transport_that_cannot(world, tmp_path, monkeypatch):

    from sync_ai_sessions.errors import IOFailure
    from sync_ai_sessions.transports.file import FileTransport

    a, b, ra, rb = world
    out = tmp_path / "h.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(out))[0] == 0

    def cannot(self, ref):
        raise NotImplementedError

    monkeypatch.setattr(FileTransport, "delete", cannot)
    doc = in_process(b, "receive", "--from", str(out), "--cwd", str(rb), "--delete", ok=False)
    assert doc["error"]["code"] == "cannot_delete" and out.exists()

    def read_only(self, ref):
        raise IOFailure(f"cannot delete {ref}: Permission denied")

    monkeypatch.setattr(FileTransport, "delete", read_only)  # a failed delete still says the import happened
    doc = in_process(b, "receive", "--from", str(out), "--cwd", str(rb), "--delete", ok=False)
    assert doc["error"]["code"] == "io" and doc["error"]["message"].endswith("; the import itself succeeded"), doc

    def ctrl_c(self, ref):
        raise KeyboardInterrupt

    monkeypatch.setattr(FileTransport, "delete", ctrl_c)  # not "nothing was changed": the sessions are in
    doc = in_process(b, "receive", "--from", str(out), "--cwd", str(rb), "--delete", ok=False)
    assert doc["error"]["code"] == "interrupted" and doc["error"]["exit_code"] == 130, doc
    assert "nothing was changed" not in doc["error"]["message"] and "import itself succeeded" in doc["error"]["message"]


def test_receive_delete_keeps_a_handoff_file_replaced_while_it_was_received(world, tmp_path, monkeypatch):
    # A synced folder (Syncthing, a cloud drive) may deliver a newer handoff under the same name while the
    # older one is received: --delete must not remove the one nobody received.
    from sync_ai_sessions.commands import receive as receive_mod

    a, b, ra, rb = world
    out, newer = tmp_path / "h.sais", tmp_path / "newer.sais"
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(out))[0] == 0
    assert a.run_json("send", "--tool", "demo", "--cwd", str(ra), "--to", str(newer))[0] == 0
    real = receive_mod.receive

    def then_synced(**kw):
        doc = real(**kw)
        newer.replace(out)  # the sync tool renames the new version into place
        return doc

    monkeypatch.setattr(receive_mod, "receive", then_synced)
    want = out.with_name("want")
    want.write_bytes(newer.read_bytes())
    doc = in_process(b, "receive", "--from", str(out), "--cwd", str(rb), "--delete", ok=False)
    assert doc["error"]["code"] == "changed_since" and "import itself succeeded" in doc["error"]["message"], doc
    assert out.read_bytes() == want.read_bytes()


def test_demo_tells_its_story_from_its_results(capsys, tmp_path, monkeypatch):
    import tempfile

    from sync_ai_sessions.commands.demo import demo

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # --keep leaves the machines here
    result = demo(keep=True)
    doc = result.to_json()
    assert list(doc) == ["ok", "tool", "workdir", "sent", "received", "again"] and doc["ok"] is True
    for key, cls in (("sent", results.SendResult), ("received", results.ReceiveResult),
                     ("again", results.ReceiveResult)):
        from_json(cls, doc[key])
    _, err = rendered(result, capsys)
    [item] = result.received.imported
    assert f"-> {result.sent.file} ({result.sent.bytes:,} bytes" in err
    assert f"{item.action}: {item.path}" in err and item.resume in err
    assert f"again: {result.again.skipped[0].reason}" in err
    assert err.rstrip().endswith(f"Kept the demo machines in {result.workdir}")


# -- list, delete, prune: the same results and the same error path as every other command --------------


OLD = [Handoff(id="a" * 32, created_at="2020-01-01T00:00:00Z", age_seconds=200 * 86400, size=9_000, parts=5),
       Handoff(id="b" * 32, created_at="2020-01-02T00:00:00Z", age_seconds=199 * 86400, size=None, parts=None,
               kind="orphan-part")]


class FakeStore:
    def __init__(self, fail: BaseException | None = None):
        self.fail = fail

    def list_handoffs(self):
        if self.fail:
            raise self.fail
        return list(OLD)

    def delete(self, ref):
        return [ref, "c" * 32]

    def prune(self, days, *, dry_run=False):
        return [h for h in OLD if h.age_seconds > days * 86400]


def invoke(monkeypatch, store, *args):
    monkeypatch.setattr(handoffs, "handoff_store", lambda env, hostname: store)
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("args,cls", [
    (["list"], lambda d: results.ListResult(handoffs=[Handoff(**h) for h in d["handoffs"]])),
    (["delete", "a" * 32], lambda d: results.DeleteResult(deleted=d["deleted"])),
    (["prune", "--older-than", "30", "--dry-run"],
     lambda d: results.PruneResult(dry_run=True, handoffs=[Handoff(**h) for h in d["would_delete"]])),
    (["prune", "--older-than", "30"],
     lambda d: results.PruneResult(dry_run=False, handoffs=[Handoff(**h) for h in d["deleted"]])),
])
def test_handoff_commands_render_their_result(monkeypatch, capsys, args, cls):
    r = invoke(monkeypatch, FakeStore(), *args, "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    human = invoke(monkeypatch, FakeStore(), *args)
    assert human.exit_code == 0
    out, err = rendered(cls(doc), capsys)
    assert (human.stdout, human.stderr) == (out, err)
    assert doc["ok"] is True and (out or err)


def test_list_output(monkeypatch):
    r = invoke(monkeypatch, FakeStore(), "list")
    assert r.stdout.splitlines()[1].startswith("a" * 32) and "9.0 kB" in r.stdout and "200d ago" in r.stdout
    assert "leftover part" in r.stdout.splitlines()[2]


def test_handoff_commands_share_the_error_path(monkeypatch):
    r = invoke(monkeypatch, FakeStore(KeyboardInterrupt()), "list", "--json")
    assert r.exit_code == 130 and json.loads(r.stdout)["error"]["code"] == "interrupted"
    r = invoke(monkeypatch, FakeStore(KeyboardInterrupt()), "list")
    assert r.exit_code == 130 and "interrupted; nothing was changed" in r.stderr
    r = invoke(monkeypatch, FakeStore(RuntimeError("boom")), "list")
    assert r.exit_code == 1 and r.stderr.strip().splitlines() == [
        "error: internal error: RuntimeError: boom (run with --debug for details)"]
    r = invoke(monkeypatch, FakeStore(RuntimeError("boom")), "list", "--debug")
    assert r.exit_code == 1 and "Traceback" in r.stderr and "RuntimeError: boom" in r.stderr


def test_every_command_returns_a_result(monkeypatch, world):
    """No CLI command prints or emits on its own: each one's output passes through `render` exactly once."""
    a, _b, ra, _rb = world
    seen: list[results.Result] = []
    real = results.render

    def spy(result, ui):
        seen.append(result)
        return real(result, ui)

    monkeypatch.setattr("sync_ai_sessions.clicommon.render", spy)

    in_process(a, "sessions", "--cwd", str(ra))
    in_process(a, "send", "--tool", "demo", "--cwd", str(ra), "--dry-run")
    in_process(a, "doctor", "--cwd", str(ra), ok=False)
    assert [type(r) for r in seen] == [results.SessionsResult, results.SendResult, results.DoctorResult]
