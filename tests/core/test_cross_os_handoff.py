"""The cross-OS proof over the real fixtures, for every adapter and every (source, target) flavour pair.

Machine A is the fixtures' POSIX machine (`/home/alice`); its handoff is found by each adapter's own
discovery.  A Windows source is the same handoff in its Windows shape (`support.windows_shape`: native
`C:\\Users\\alice\\...` paths, lower-case drives, forward slashes, `\\\\?\\`, Git-Bash and all-lower-case
forms in free text, Codex's twice-escaped arguments, `file:///C:/...` URLs, the path-derived names).
Machine B is POSIX (`/home/bob/work/app`) or Windows (`D:\\Users\\bob`, `D:\\work\\app`): its paths are
given as pure Windows paths, so both directions run here.  Each file is rewritten with the rules the
adapter builds for that handoff and checked (`support.pathcheck.check_lines`): no source path form is
left in any case, separator or escaping level, every line still parses, Codex's `arguments` parse, every
`file://` URL round-trips through the target's rule, and path keys hold no mixed separators.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import pytest
from support.fixtures import fixtures_dir
from support.pathcheck import check_lines
from support.windows_shape import WIN_HOME, WIN_TEMP, fixture_shapers

from sync_ai_sessions import pathflavor as pf
from sync_ai_sessions.adapters.base import ImportContext, Recipe, SessionManifest, SourceInfo
from sync_ai_sessions.adapters.claude import ClaudeAdapter
from sync_ai_sessions.adapters.codex import CodexAdapter
from sync_ai_sessions.adapters.gemini import GeminiAdapter
from sync_ai_sessions.adapters.qwen import QwenAdapter, sanitize_cwd
from sync_ai_sessions.engine.rewrite import PathRewriter
from sync_ai_sessions.engine.staging import write_recipes
from sync_ai_sessions.gitrepo import Repo

A_HOME = "/home/alice"
ROOTS = {"claude": "/home/alice/src/my_app.v2", "codex": "/home/alice/src/projA",
         "gemini": "/home/alice/src/myproj", "qwen": "/home/alice/code/qproj"}
SHAPE = {"claude": "claude", "codex": "codex", "gemini": "gemini", "qwen": "qwen-code"}
TARGETS = {"posix": (PurePosixPath("/home/bob"), PurePosixPath("/home/bob/work/app")),
           "windows": (PureWindowsPath("D:\\Users\\bob"), PureWindowsPath("D:\\work\\app"))}


def _localise(obj: Any, here: str) -> Any:
    """Machine A's test folder spelled as the fixtures' `/home/alice`."""
    return json.loads(json.dumps(obj).replace(json.dumps(here)[1:-1], A_HOME))


def export(tool: str, tmp: Path) -> tuple[list[tuple[dict[str, Any], dict[str, bytes]]], dict[str, Any]]:
    """Machine A's handoff of `tool`: (session manifest, its files' bytes) per session, and the source."""
    fx = fixtures_dir()
    a = tmp / "A"
    if tool == "claude":
        for name in ("1.0.128-print", "2.0.77-print", "2.1.330-interactive", "2.1.330-print-subagent"):
            shutil.copytree(fx / "claude" / name, a / ".claude", dirs_exist_ok=True)
        adapter: Any = ClaudeAdapter({"HOME": str(a), "CLAUDE_CONFIG_DIR": str(a / ".claude")})
        meta = {"config_dir": f"{A_HOME}/.claude", "projects_dir": f"{A_HOME}/.claude/projects",
                "tmp_dir": "/tmp/claude-1000", "home": A_HOME}
    elif tool == "codex":
        day = a / ".codex" / "sessions" / "2026" / "11" / "24"
        day.mkdir(parents=True)
        for kind in ("exec-0.110.0", "exec-0.169.0", "toolcall-0.169.0", "tui-0.169.0"):
            for f in (fx / "codex" / kind).glob("rollout-*.jsonl"):
                shutil.copyfile(f, day / f.name)
        adapter = CodexAdapter({"HOME": str(a), "CODEX_HOME": str(a / ".codex")})
        meta = {"codex_home": f"{A_HOME}/.codex", "model_provider": "openai", "include_archived": False}
    elif tool == "gemini":
        shutil.copytree(fx / "gemini" / "0.61.0" / ".gemini", a / ".gemini")
        adapter = GeminiAdapter({"HOME": str(a), "GEMINI_CLI_HOME": str(a)})
        meta = {"runtime_dir": f"{A_HOME}/.gemini"}
    else:
        chats = a / ".qwen" / "projects" / sanitize_cwd(ROOTS["qwen"]) / "chats"
        chats.mkdir(parents=True)
        shutil.copyfile(fx / "qwen-code" / "0.24.4" / "machineA_session.jsonl",
                        chats / "a98cf93e-0d86-48f0-8471-78568b84e303.jsonl")
        adapter = QwenAdapter({"HOME": str(a)})
        meta = {"runtime_dir": f"{A_HOME}/.qwen", "global_dir": f"{A_HOME}/.qwen", "home": A_HOME}
    sessions = adapter.find_sessions(Repo(root=Path(ROOTS[tool])))
    assert sessions, tool
    out = []
    for s in sessions:
        files = {f.arcname: f.read() for f in s.files}
        sm = {"id": s.id, "cwd_rel": s.cwd_rel, "meta": _localise(s.meta, str(a)),
              "files": [{"arcname": f.arcname, "size": f.size, "role": f.role} for f in s.files]}
        out.append((sm, files))
    source = {"os_flavor": "posix", "repo_root": ROOTS[tool], "home": A_HOME,
              "tool_home": f"{A_HOME}/.{'qwen' if tool == 'qwen' else tool}", "adapter_meta": meta}
    return out, source


def windows_shaped(tool: str, sessions: list[tuple[dict[str, Any], dict[str, bytes]]], source: dict[str, Any]):
    shaper, _roots = fixture_shapers()[SHAPE[tool]]
    manifest = shaper.manifest({"source": source, "sessions": [sm for sm, _ in sessions]})
    if tool == "gemini":  # Gemini on win32 records its project paths lower-cased (registry keys, markers)
        for sm in manifest["sessions"]:
            sm["meta"]["project_root"] = sm["meta"]["project_root"].lower()
    shaped = []
    for sm, (_, files) in zip(manifest["sessions"], sessions, strict=True):
        shaped.append((sm, {arc: shaper.file(b) if arc.endswith((".json", ".jsonl")) else b
                            for arc, b in files.items()}))
    return shaped, manifest["source"]


class _Ctx(ImportContext):
    def realpath(self, path: Any) -> str:  # machine B's paths are pure paths: nothing to resolve
        return str(path)


def target_rewriter(tool: str, sm: dict[str, Any], files: dict[str, bytes], source: dict[str, Any],
                    target: str, tmp: Path) -> PathRewriter:
    """The rewriter the adapter builds on machine B for this session."""
    home, root = TARGETS[target]
    fl = pf.flavor(target)
    session = SessionManifest(id=sm["id"], files=sm["files"], cwd_rel=sm["cwd_rel"], meta=sm["meta"])
    src = SourceInfo(os_flavor=source["os_flavor"], repo_root=source["repo_root"], home=source["home"],
                     tool_home=source["tool_home"], adapter_meta=source["adapter_meta"])
    ctx = _Ctx(target=Repo(root=root), source=src, staging=tmp / "staging", env={}, target_flavor=fl)  # type: ignore[arg-type]
    cwd = root.joinpath(*sm["cwd_rel"].split("/")) if sm["cwd_rel"] else root
    if tool == "claude":
        a: Any = ClaudeAdapter({})
        a.config_dir = lambda: home / ".claude"
        a.projects_dir = lambda: home / ".claude" / "projects"
        a.user_home = lambda: home
        a.tmp_dir = lambda fl=None: str(home / "AppData" / "Local" / "Temp" / "claude") if target == "windows" \
            else "/tmp/claude-1001"
        return PathRewriter(a._rules(session, ctx, cwd), source_flavor=src.os_flavor, target_flavor=fl)
    if tool == "qwen":
        q: Any = QwenAdapter({})
        q.runtime_dir = q.global_dir = q.home = lambda: home / ".qwen"
        q.user_home = lambda: home
        return PathRewriter(q._rules(session, ctx, cwd), source_flavor=src.os_flavor, target_flavor=fl)
    if tool == "codex":
        c: Any = CodexAdapter({})
        c.home = lambda: home / ".codex"
        c.user_home = lambda: home
        return c.rewriter(session, ctx, sm["id"], sm["id"])
    g: Any = GeminiAdapter({})
    g.home = lambda: home / ".gemini"
    g.user_home = lambda: home
    (t_arc,) = [f["arcname"] for f in sm["files"] if f["role"] == "transcript"]
    transcript = tmp / "transcript"
    transcript.write_bytes(files[t_arc])
    return g._rewriter(session, ctx, transcript, str(cwd), home / ".gemini" / "tmp" / "app", sm["id"], sm["id"])


@pytest.mark.parametrize("target", ["posix", "windows"])
@pytest.mark.parametrize("source", ["posix", "windows"])
@pytest.mark.parametrize("tool", ["claude", "codex", "gemini", "qwen"])
def test_no_source_path_survives_any_direction(tool: str, source: str, target: str, tmp_path: Path) -> None:
    sessions, src = export(tool, tmp_path)
    if source == "windows":
        sessions, src = windows_shaped(tool, sessions, src)
        olds = [WIN_HOME, WIN_TEMP + "\\claude"]
    else:
        olds = [A_HOME, "/tmp/claude-1000"]
    checked = dirty = 0
    forms: set[str] = set()
    for sm, files in sessions:
        rw = target_rewriter(tool, sm, files, src, target, tmp_path)
        for arc, data in files.items():
            if not arc.endswith((".json", ".jsonl")):
                continue
            try:  # the check sees the source's paths before the rewrite (it can fail)
                check_lines(data, olds, pf.flavor(source), pf.flavor(target))
            except AssertionError as exc:
                dirty += 1
                forms.add(str(exc).split("'")[1] if "'" in str(exc) else str(exc))
            out = rw.rewrite(data)
            checked += check_lines(out, olds, pf.flavor(source), pf.flavor(target))
    assert checked > 50 and dirty, (checked, dirty)
    if source == "windows" and tool == "codex":
        joined = b"".join(d for _, f in sessions for d in f.values())
        # the shapes the proof is about: twice-escaped arguments, the extended and Git-Bash forms, URLs
        for needle in (rb"C:\\\\Users\\\\alice", rb"\\\\?\\C:", rb"/c/Users/alice", rb"c:\\users\\alice"):
            assert needle in joined, needle


def test_gemini_on_a_windows_target_keys_and_marks_projects_as_gemini_does(tmp_path: Path) -> None:
    """Gemini on win32 keys `projects.json` and writes `.project_root` lower-cased (normalizePath) and
    compares that way: a real-case path must find the existing lower-cased entry, not claim `app-1`."""
    from sync_ai_sessions.adapters.gemini import key_of, registration

    win = pf.flavor("windows")
    assert key_of("C:\\Work\\My App\\", win) == "c:\\work\\my app" and key_of("C:/Work/App", win) == "c:\\work\\app"
    g = GeminiAdapter({"HOME": str(tmp_path), "GEMINI_CLI_HOME": str(tmp_path)})
    gdir = tmp_path / ".gemini"
    staging = tmp_path / "staging"
    staging.mkdir()
    ctx = ImportContext(target=Repo(root=tmp_path), source=SourceInfo(os_flavor="windows", repo_root="C:\\Work"),
                        staging=staging, env={}, target_flavor=win)
    recipes: list[Recipe] = []
    markers = g._registration("C:\\Work\\App", "app", staging, ctx, recipes)  # what the plan places
    write_recipes(recipes, ctx)  # as the engine stages them
    assert [(mk.dest, mk.staged.read_text()) for mk in markers] == [
        (gdir / base / "app" / ".project_root", "c:\\work\\app") for base in ("tmp", "history")]
    raw = registration(key_of("C:\\Work\\App", win), "app")(None)  # the projects.json edit
    assert json.loads(raw) == {"projects": {"c:\\work\\app": "app"}}
    for mk in markers:
        mk.dest.parent.mkdir(parents=True)
        shutil.copyfile(mk.staged, mk.dest)
    (gdir / "projects.json").write_bytes(raw)
    assert g.short_name("C:\\WORK\\app", fl=win) == "app"  # the same project: not a new `app-1`
    assert g.short_name("D:\\Other\\App", fl=win) == "app-1"
    assert key_of("/Work/App/", pf.Flavor("posix", "linux")) == "/Work/App"  # Linux: as given


def test_qwen_on_a_windows_target_names_folders_from_the_lower_cased_path(tmp_path: Path) -> None:
    sessions, src = export("qwen", tmp_path)
    sm, files = sessions[0]
    rules = target_rewriter("qwen", sm, files, src, "windows", tmp_path)
    out = rules.rewrite(b'{"t":"see -home-alice-code-qproj"}')
    assert b"d--work-app" in out  # sanitizeCwd lower-cases on win32
