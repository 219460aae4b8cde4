import pytest

from sync_ai_sessions.gitrepo import normalize_remote

TABLE = [
    ("git@github.com:o/r.git", "github.com/o/r"),
    ("https://github.com/O/R", "github.com/o/r"),
    ("https://github.com/o/r.git/", "github.com/o/r"),
    ("ssh://git@github.com:22/o/r.git", "github.com/o/r"),
    ("ssh://git@ssh.github.com:443/o/r.git", "github.com/o/r"),
    ("https://user:secret@GitHub.com/Acme/my-app.git", "github.com/acme/my-app"),
    ("git://github.com/o/r", "github.com/o/r"),
    ("http://www.github.com/o/r", "github.com/o/r"),
    ("git@gitlab.com:Group/Sub/Proj.git", "gitlab.com/group/sub/proj"),
    ("https://bitbucket.org/Team/Repo", "bitbucket.org/team/repo"),
    # other hosts keep the path's case; host case and ports still go
    ("https://git.Example.com:8443/Team/Repo.git", "git.example.com/Team/Repo"),
    ("git@git.example.com:Team/Repo", "git.example.com/Team/Repo"),
    ("ssh://me@git.example.com/Team/Repo.git", "git.example.com/Team/Repo"),
    ("/srv/git/repo.git", "file:srv/git/repo"),
    ("file:///srv/git/repo.git", "file:srv/git/repo"),
]


@pytest.mark.parametrize(("url", "expected"), TABLE)
def test_normalize_remote(url, expected):
    assert normalize_remote(url) == expected


def test_acme_example_from_the_contract():
    assert normalize_remote("git@github.com:acme/my-app.git") == normalize_remote("https://github.com/Acme/my-app")


def test_different_repos_differ():
    assert normalize_remote("git@github.com:o/r.git") != normalize_remote("git@github.com:o/r2.git")
    assert normalize_remote("git@example.com:O/r.git") != normalize_remote("git@example.com:o/r.git")
