"""Session ids as people type them: short unique prefixes, shown and accepted wherever an id is taken.

`short_ids` gives each id of a list the shortest prefix (at least `MIN_SHORT` characters) that no other
id of that list shares; `resolve` turns what was typed (a whole id or a prefix) into whole ids, refusing
a prefix that matches several (the error lists them) or none (the error says which command lists them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sync_ai_sessions.errors import NotFoundError, UsageError

MIN_SHORT = 8


def short_ids(ids: Iterable[str], min_len: int = MIN_SHORT) -> dict[str, str]:
    """id -> its shortest prefix of at least `min_len` characters that is unique among `ids`."""
    ids = list(dict.fromkeys(ids))
    out: dict[str, str] = {}
    for i in ids:
        n = min(min_len, len(i))
        while n < len(i) and any(j != i and j.startswith(i[:n]) for j in ids):
            n += 1
        out[i] = i[:n]
    return out


def resolve(wanted: Sequence[str], ids: Sequence[str], *, where: str, listed_by: str) -> list[str]:
    """The whole ids for `wanted` (whole ids or prefixes), in the order asked, without repeats.

    `where` names what was searched ("this repo's Claude Code sessions"), `listed_by` the command that
    lists them; both go into the error messages."""
    out: list[str] = []
    for w in wanted:
        w = w.strip()
        if w in ids:
            hit = w
        else:
            matches = [i for i in ids if w and i.startswith(w)]
            if not matches:
                raise NotFoundError(f"no session {w!r} among {where}: `{listed_by}` lists them", code="no_session")
            if len(matches) > 1:
                shown = ", ".join(matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10 else "")
                raise UsageError(f"the id prefix {w!r} matches {len(matches)} sessions ({shown}): type more of it",
                                 code="ambiguous_id")
            hit = matches[0]
        if hit not in out:
            out.append(hit)
    return out
