"""`hotline users add` and `hotline users list`: the console's accounts, from the command line."""

from __future__ import annotations

import io

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")
pytest.importorskip("argon2")

import cli  # noqa: E402
from pipeline.store import open_store  # noqa: E402

PASSWORD = "correct horse"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'tickets.sqlite'}"


def _exit_code(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:  # argparse refuses an argument
        return e.code


@pytest.mark.parametrize("role", ["supervisor"])
def test_cli_users_add_from_stdin_and_list(db_url, capsys, monkeypatch, role):
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["users", "add", "陈主管", "--role", role, "--db", db_url]) == 0
    assert "added supervisor '陈主管'" in capsys.readouterr().out
    assert cli.main(["users", "list", "--db", db_url]) == 0
    assert capsys.readouterr().out.startswith("陈主管\tsupervisor\t")
    s = open_store(db_url)
    try:
        assert s.verify_password("陈主管", PASSWORD).role == role
        assert s.verify_password("陈主管", PASSWORD + "\n") is None  # the newline is not part of it
    finally:
        s.close()


@pytest.mark.parametrize("argv,stdin,fragment", [
    (["users", "add", "alice", "--role", "operator"], "short\n", "password too short"),
    (["users", "add", "alice", "--role", "operator"], "", "no password"),
    (["users", "add", "taken", "--role", "operator"], PASSWORD + "\n", "user name 'taken' is taken"),
    (["users", "add", "two words", "--role", "operator"], PASSWORD + "\n", "no spaces"),
    (["users", "add", "alice", "--role", "boss"], PASSWORD + "\n", "invalid choice: 'boss'"),
    (["users", "add", "alice", "--role", "operator", "--db", "nosuchdb://x"], PASSWORD + "\n", "nosuchdb://x"),
    (["users", "list", "--db", "not a url"], "", "bad database URL 'not a url'"),
])  # fmt: skip
def test_cli_users_errors(db_url, capsys, monkeypatch, argv, stdin, fragment):
    from argon2 import PasswordHasher

    s = open_store(db_url, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    s.add_user("taken", PASSWORD, "operator")
    s.close()
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    if "--db" not in argv:
        argv = [*argv, "--db", db_url]
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1 and PASSWORD not in err


@pytest.mark.parametrize("typed,rc", [((PASSWORD, PASSWORD), 0), ((PASSWORD, "something else"), 2)])
def test_cli_users_add_prompts_twice_at_a_terminal(db_url, capsys, monkeypatch, typed, rc):
    answers = iter(typed)
    prompts: list[str] = []
    monkeypatch.setattr("sys.stdin", _Tty())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": prompts.append(prompt) or next(answers))
    assert cli.main(["users", "add", "bob", "--role", "operator", "--db", db_url]) == rc
    assert len(prompts) == 2
    if rc:
        assert "the two passwords differ" in capsys.readouterr().err
    s = open_store(db_url)
    try:
        assert (s.get_user("bob") is not None) == (rc == 0)
    finally:
        s.close()
