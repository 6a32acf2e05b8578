"""orchestrator/bridgeid.py: which bridge a session expects, and why another one is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from orchestrator.bridgeid import (
    ID_FILE,
    LEARNED_FILE,
    Identity,
    IdentityCheck,
    announced,
    read_or_create,
)


def test_a_data_dir_gets_one_id_and_keeps_it(tmp_path: Path) -> None:
    first = read_or_create(tmp_path / "bridge")
    assert len(first) == 24 and read_or_create(tmp_path / "bridge") == first
    assert read_or_create(tmp_path / "other") != first
    (tmp_path / "bridge" / ID_FILE).write_text("not an id!\n")
    with pytest.raises(ValueError, match="does not hold a bridge id"):
        read_or_create(tmp_path / "bridge")


def test_what_a_bridge_announces() -> None:
    assert announced({"bridgeId": "abcdefgh12", "session": "s1", "mode": "replay"}) == Identity(
        "abcdefgh12", "s1"
    )
    assert announced({"connection": "open"}) is None
    assert announced(["bridgeId"]) is None


def test_a_spawned_bridge_is_the_one_in_the_data_dir_given_to_it(tmp_path: Path) -> None:
    check = IdentityCheck.spawned(tmp_path / "bridge", "default")
    ours = Identity(read_or_create(tmp_path / "bridge"), "default")
    assert check.problem(ours) is None
    other = Identity("0123456789abcdef", "default")
    problem = check.problem(other)
    assert problem is not None and ours.bridge_id in problem and other.bridge_id in problem
    assert check.problem(Identity(ours.bridge_id, "sales")) is not None, "another session"
    assert check.problem(None) is not None, "a bridge that does not say who it is"
    # Its data dir deleted and made anew: the new id is ours.
    shutil.rmtree(tmp_path / "bridge")
    renewed = Identity(read_or_create(tmp_path / "bridge"), "default")
    assert check.problem(renewed) is None
    assert check.problem(ours) is not None


def test_a_bridge_elsewhere_is_learned_on_first_contact_and_kept(tmp_path: Path) -> None:
    first = Identity("aaaaaaaa11", "default")
    check = IdentityCheck.learned_in(tmp_path)
    assert check.expected is None
    assert check.problem(first) is None
    assert orjson.loads((tmp_path / LEARNED_FILE).read_bytes()) == first.view()
    again = IdentityCheck.learned_in(tmp_path)  # after a restart
    assert again.expected == first
    problem = again.problem(Identity("bbbbbbbb22", "default"))
    assert problem is not None and str(tmp_path / LEARNED_FILE) in problem
    (tmp_path / LEARNED_FILE).unlink()  # an operator accepts another bridge on purpose
    assert IdentityCheck.learned_in(tmp_path).problem(Identity("bbbbbbbb22", "default")) is None


def test_a_damaged_record_is_a_refusal_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / LEARNED_FILE).write_text("{not json")
    problem = IdentityCheck.learned_in(tmp_path).problem(Identity("aaaaaaaa11", "default"))
    assert problem is not None and "remove it" in problem
    (tmp_path / LEARNED_FILE).write_text("{}")
    assert IdentityCheck.learned_in(tmp_path).problem(Identity("aaaaaaaa11", "default"))
    (tmp_path / "bridge").mkdir()
    (tmp_path / "bridge" / ID_FILE).write_text("??\n")
    problem = IdentityCheck.spawned(tmp_path / "bridge", "default").problem(
        Identity("aaaaaaaa11", "default")
    )
    assert problem is not None and "cannot read the id" in problem
