"""Domain rules, no services needed."""

import pytest

from paas.domain import config as config_rules
from paas.domain.apps import validate_app_name
from paas.domain.builds import parse_procfile, validate_image
from paas.domain.domains import validate_hostname
from paas.domain.errors import ValidationError
from paas.domain.formation import Formation, ProcessSpec
from paas.domain.keys import parse_public_key
from paas.domain.releases import Release, parse_version
from paas.domain.users import hash_password, verify_password

from ..keygen import ed25519_public_key


@pytest.mark.parametrize("name", ["abc", "my-app", "a1b2", "x" * 40])
def test_valid_app_names(name):
    assert validate_app_name(name) == name


@pytest.mark.parametrize("name", ["ab", "x" * 41, "My-app", "a_b", "a--b", "-ab", "ab-", "1ab", "paas"])
def test_invalid_app_names(name):
    with pytest.raises(ValidationError):
        validate_app_name(name)


def test_config_changes_set_and_unset():
    assert config_rules.apply_changes({"A": "1", "B": "2"}, {"A": None, "C": "3"}) == {"B": "2", "C": "3"}
    assert config_rules.describe_changes({"B": "x", "A": "y", "C": None}) == "set A, B and unset C"


def test_config_total_size_is_bounded():
    big = {f"K{i}": "v" * 32 * 1024 for i in range(7)}
    with pytest.raises(ValidationError, match="in total"):
        config_rules.apply_changes({}, {**big, "K7": "v" * 32 * 1024, "K8": "v" * 32 * 1024})
    assert len(config_rules.apply_changes({}, big)) == 7


def test_release_successor_copies_build_and_config():
    first = Release(app="a", version=3, summary="s", created_by="u", created_at="t", config={"A": "1"},
                    build_id="b1", image="img:1", procfile={"web": "run"})
    second = first.successor(summary="next", created_by="v", created_at="t2", config={"B": "2"})
    assert (second.version, second.build_id, second.image, second.config) == (4, "b1", "img:1", {"B": "2"})
    assert first.config == {"A": "1"}


@pytest.mark.parametrize("text,expected", [("v3", 3), ("3", 3), ("V12", 12), (7, 7)])
def test_parse_version(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", ["v0", "x3", "", "v-1", "3.0"])
def test_parse_version_rejects(text):
    with pytest.raises(ValidationError):
        parse_version(text)


def test_public_key_fingerprint_matches_openssh_format():
    parsed = parse_public_key(ed25519_public_key("me@host"))
    assert parsed.fingerprint.startswith("SHA256:") and len(parsed.fingerprint) == 50
    assert parsed.comment == "me@host"


def test_hostnames_are_normalised():
    assert validate_hostname("WWW.Example.COM.") == "www.example.com"
    with pytest.raises(ValidationError):
        validate_hostname("example")


def test_procfile_parsing():
    assert parse_procfile("web: gunicorn app:app\n# comment\n\nworker: python w.py\n") == {
        "web": "gunicorn app:app",
        "worker": "python w.py",
    }
    with pytest.raises(ValidationError, match="line 1"):
        parse_procfile("web gunicorn")


@pytest.mark.parametrize("image", ["nginx", "nginx:1.25", "127.0.0.1:5000/app:abc123", "a/b/c@sha256:" + "a" * 64])
def test_valid_images(image):
    assert validate_image(image) == image


def test_formation_follows_new_process_types():
    formation = Formation(app="a", processes={"web": ProcessSpec(quantity=3), "old": ProcessSpec(quantity=1)})
    updated = formation.for_process_types({"web", "worker"})
    assert {k: v.quantity for k, v in updated.processes.items()} == {"web": 3, "worker": 0}


def test_passwords_are_hashed_and_verified():
    stored = hash_password("hunter2hunter2")
    assert "hunter2" not in stored
    assert verify_password("hunter2hunter2", stored) and not verify_password("wrong", stored)
