"""The tests' own PostgreSQL cluster (tests/pgserver.py): private, disposable, and a clear
failure when PostgreSQL is not installed."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import psycopg
import pytest

from tests.pgserver import PostgresMissingError, bin_dir, postgres_server


def test_missing_binaries_fail_with_how_to_install_them(tmp_path: Path) -> None:
    with pytest.raises(PostgresMissingError, match=r"apt-get install postgresql"):
        bin_dir(str(tmp_path / "*" / "bin"), path=str(tmp_path))


def test_the_newest_major_version_is_taken(tmp_path: Path) -> None:
    for version in ("9", "15", "13"):
        (tmp_path / version / "bin").mkdir(parents=True)
        initdb = tmp_path / version / "bin" / "initdb"
        initdb.write_text("#!/bin/sh\n")
        initdb.chmod(0o755)
    assert bin_dir(str(tmp_path / "*" / "bin"), path="") == tmp_path / "15" / "bin"


def test_a_private_cluster_on_a_socket_removed_at_the_end() -> None:
    with postgres_server() as pg:
        directory = pg.directory
        assert pg.dsn.startswith(f"host={directory} ")  # a socket, never a TCP port
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            [(user, superuser, listen)] = conn.execute(
                "select current_user, current_setting('is_superuser'),"
                " current_setting('listen_addresses')"
            ).fetchall()
            assert (user, superuser, listen) == ("postgres", "on", "")
            conn.execute("create database scratch")
        # PostgreSQL refuses to run as root: under root the cluster is the postgres user's.
        owner = (directory / "data").stat().st_uid
        assert owner == (pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid())
    assert not directory.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.dsn, connect_timeout=2)
