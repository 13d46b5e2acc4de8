"""paas.router.certs (PEM validation) and paas.router.files (Traefik's file-provider config)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paas.domain.errors import ValidationError
from paas.router import certs, files
from tests.support.certs import make_self_signed

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")


@pytest.fixture(scope="module")
def pair():
    return make_self_signed(["www.example.test", "*.shop.example.test"], days=10)


@pytest.fixture(scope="module")
def other_pair():
    return make_self_signed(["other.example.test"], days=10)



def certificate_paths(router_dir: Path, name: str, platform: str = files.DEFAULT_PLATFORM) -> tuple[Path, Path]:
    """(certFile, keyFile) that Traefik is told to serve for `name`."""
    entry = json.loads((router_dir / f"{files.scope(platform)}.cert.{name}.yml").read_text())["tls"]["certificates"][0]
    return Path(entry["certFile"]), Path(entry["keyFile"])

def test_valid_pair_names_dates_fingerprint(pair):
    cert, key = pair
    info = certs.validate(cert, key)
    assert info.names == ("www.example.test", "*.shop.example.test")
    assert info.common_name == "www.example.test"
    assert info.self_signed and info.chain_length == 1
    assert 9 * 86400 < (info.not_after - datetime.now(UTC)).total_seconds() <= 10 * 86400
    assert len(info.fingerprint.split(":")) == 32
    assert info.covers("www.example.test") and info.covers("a.shop.example.test")
    assert not info.covers("a.b.shop.example.test") and not info.covers("shop.example.test")
    assert json.loads(json.dumps(info.to_dict()))["names"] == list(info.names)
    assert certs.validate(cert.encode(), key.encode(), hosts=["x.test", "www.example.test"]) == info


def test_chain_leaf_first(pair, other_pair):
    cert, key = pair
    info = certs.validate(cert + other_pair[0], key)
    assert info.chain_length == 2 and info.names[0] == "www.example.test"


def test_key_of_another_certificate(pair, other_pair):
    with pytest.raises(ValidationError, match="does not match"):
        certs.validate(pair[0], other_pair[1])


def test_expired_and_not_yet_valid(pair):
    cert, key = pair
    info = certs.validate(cert, key)
    with pytest.raises(ValidationError, match="expired"):
        certs.validate(cert, key, now=info.not_after.timestamp() + 1)
    with pytest.raises(ValidationError, match="not valid before"):
        certs.validate(cert, key, now=info.not_before.timestamp() - 3600)


def test_names_must_cover_one_app_host(pair):
    with pytest.raises(ValidationError, match="covers none"):
        certs.validate(*pair, hosts=["myapp.paas.test"])


@pytest.mark.parametrize("cert,key,message", [
    ("", "k", "empty"),
    ("not pem", "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n", "not a PEM certificate"),
    ("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n", None, "not valid PEM"),
    (None, "garbage", "exactly one"),
    ("x" * (70 * 1024), "k", "larger than"),
])
def test_malformed_input(pair, cert, key, message):
    with pytest.raises(ValidationError, match=message):
        certs.validate(pair[0] if cert is None else cert, pair[1] if key is None else key)


def test_two_keys_rejected(pair, other_pair):
    with pytest.raises(ValidationError, match="exactly one"):
        certs.validate(pair[0], pair[1] + other_pair[1])


def test_encrypted_key_rejected_without_prompting(pair, tmp_path):
    plain = tmp_path / "k.pem"
    plain.write_text(pair[1])
    encrypted = subprocess.run(
        ["openssl", "pkey", "-in", str(plain), "-aes256", "-passout", "pass:secret"],
        check=True, capture_output=True, text=True,
    ).stdout
    with pytest.raises(ValidationError, match="encrypted"):
        certs.validate(pair[0], encrypted)


def test_errors_and_logs_never_contain_the_key(pair, other_pair, caplog):
    caplog.set_level(logging.DEBUG)
    key_body = other_pair[1].splitlines()[1]
    for bad_key in (other_pair[1], other_pair[1][:-40], other_pair[1].replace("A", "@")):
        with pytest.raises(ValidationError) as err:
            certs.validate(pair[0], bad_key)
        assert key_body[:16] not in str(err.value) and "PRIVATE" not in str(err.value)
    assert key_body[:16] not in caplog.text
    assert "PRIVATE" not in repr(certs.validate(*pair))


def test_validation_writes_no_file(pair, tmp_path, monkeypatch):
    """Validation happens in memory: no temporary file (where a key would sit) is ever opened."""
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    certs.validate(*pair)
    assert opened == []
    assert not hasattr(certs, "_private_dir") and "_test_decode_cert" not in open(certs.__file__).read()


def _signed(key, names, *, cn=None, ips=()):
    """A self-signed certificate for names (and IP SANs) signed by key."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or names[0])])
    now = datetime.datetime.now(datetime.UTC)
    sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False).sign(key, hashes.SHA256()))
    return cert


def _pems(key, cert):
    from cryptography.hazmat.primitives import serialization

    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()).decode())


def test_key_types_and_sizes():
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValidationError, match="at least 2048"):
        certs.validate(*_pems(small, _signed(small, ["a.example.test"])))
    weird = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(ValidationError, match="curve"):
        certs.validate(*_pems(weird, _signed(weird, ["a.example.test"])))
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info = certs.validate(*_pems(good, _signed(good, ["a.example.test"])))
    assert info.key_type == "RSA 2048" and info.names == ("a.example.test",)


def test_served_names_include_ip_sans_and_odd_common_names():
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    info = certs.validate(*_pems(key, _signed(key, ["a.example.test"], cn="Not A Host", ips=["127.0.0.1"])))
    assert info.names == ("a.example.test",)
    assert set(info.served_names) == {"a.example.test", "127.0.0.1", "not a host"}


def test_garbage_certificate_is_a_validation_error(pair):
    body = "-----BEGIN CERTIFICATE-----\nTUlJQm9n\n-----END CERTIFICATE-----\n"
    with pytest.raises(ValidationError, match="not valid PEM"):
        certs.validate(body, pair[1])


# ---------------------------------------------------------------- files

def test_platform_route(tmp_path):
    path = files.write_platform_route(tmp_path, "paas.test", ["http://127.0.0.1:8000/"])
    assert path.name == "paas.controller.yml"
    conf = json.loads(path.read_text())
    routers = conf["http"]["routers"]
    assert routers["paas-controller"] == {
        "rule": "Host(`paas.paas.test`)", "entryPoints": ["web"], "service": "paas-controller",
    }
    assert routers["paas-controller-secure"]["tls"] == {}
    assert routers["paas-controller-secure"]["entryPoints"] == ["websecure"]
    assert conf["http"]["services"]["paas-controller"]["loadBalancer"]["servers"] == [{"url": "http://127.0.0.1:8000"}]
    assert files.remove_platform_route(tmp_path) and not path.exists()
    assert not files.remove_platform_route(tmp_path)
    with pytest.raises(ValueError):
        files.write_platform_route(tmp_path, "paas.test", ["127.0.0.1:8000"])


def test_certificate_write_replace_remove(tmp_path, pair, other_pair):
    router = tmp_path / "router"
    files.write_certificate(router, "myapp", *pair)
    assert stat.S_IMODE(router.stat().st_mode) == 0o700
    crt, key = certificate_paths(router, "myapp")
    assert crt.read_text() == pair[0].strip() + "\n" and key.read_text() == pair[1].strip() + "\n"
    for p in (crt, key, router / "paas.cert.myapp.yml"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    conf = json.loads((router / "paas.cert.myapp.yml").read_text())
    assert conf == {"tls": {"certificates": [{"certFile": str(crt), "keyFile": str(key)}]}}

    files.write_certificate(router, "myapp", *other_pair)  # replace: new files, old ones gone
    crt2, key2 = certificate_paths(router, "myapp")
    assert crt2 != crt and not crt.exists() and not key.exists()
    assert files.list_certificates(router) == ["myapp"]

    files.write_certificate(router, "myapp-abc", *pair)  # a similar name is left alone
    assert files.remove_certificate(router, "myapp")
    assert not crt2.exists() and not key2.exists()
    assert files.list_certificates(router) == ["myapp-abc"]
    assert not files.remove_certificate(router, "myapp")
    assert not [p for p in router.iterdir() if p.name.endswith(".tmp")]


def test_sync_certificates(tmp_path, pair, other_pair):
    files.write_certificate(tmp_path, "gone", *pair)
    files.sync_certificates(tmp_path, {"a": pair, "b": other_pair})
    assert files.list_certificates(tmp_path) == ["a", "b"]
    assert not list(tmp_path.glob("*gone*"))


def test_platforms_share_a_directory(tmp_path, pair, other_pair):
    """Two platforms (KV prefixes) in one router directory: each sees, syncs and removes only its
    own files; the controller routes have distinct file and router names."""
    a, b = "paas-test-aaaa1111", "paas/other"
    files.write_certificate(tmp_path, "web", *pair, platform=a)
    files.write_certificate(tmp_path, "web", *other_pair, platform=b)
    route_a = files.write_platform_route(tmp_path, "a.test", ["http://127.0.0.1:1"], platform=a)
    route_b = files.write_platform_route(tmp_path, "b.test", ["http://127.0.0.1:2"], platform=b)
    assert route_a != route_b and files.scope(b).startswith("h_") and "." not in files.scope(b)
    assert set(json.loads(route_a.read_text())["http"]["routers"]).isdisjoint(
        json.loads(route_b.read_text())["http"]["routers"])
    files.sync_certificates(tmp_path, {}, platform=b)
    assert files.list_certificates(tmp_path, platform=a) == ["web"]
    assert files.list_certificates(tmp_path, platform=b) == []
    assert certificate_paths(tmp_path, "web", platform=a)[1].read_text() == pair[1].strip() + "\n"
    assert files.remove_platform_route(tmp_path, platform=b) and route_a.exists()
    assert not files.remove_certificate(tmp_path, "web", platform=b)
    assert files.list_certificates(tmp_path, platform=a) == ["web"]


def test_legacy_controller_route_of_the_same_router_is_replaced(tmp_path):
    legacy = tmp_path / "paas-controller.yml"
    legacy.write_text(json.dumps({"http": {"routers": {"paas-controller": {}}, "services": {}}}))
    other = tmp_path / "other.yml"
    other.write_text(json.dumps({"http": {"routers": {"x": {}}}}))
    files.write_platform_route(tmp_path, "paas.test", ["http://127.0.0.1:8000"])
    assert not legacy.exists() and other.exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000\n", "127.0.0.1:8000", "http://a/b", "ftp://a"])
def test_platform_route_urls_full_match(tmp_path, url):
    with pytest.raises(ValueError):
        files.write_platform_route(tmp_path, "paas.test", [url])


@pytest.mark.parametrize("name", ["../x", "A", "", "a/b", "-a", "a.yml", "app\n"])
def test_certificate_names_cannot_escape(tmp_path, pair, name):
    with pytest.raises(ValueError):
        files.write_certificate(tmp_path, name, *pair)


def test_make_self_signed_rejects_bad_names():
    with pytest.raises(ValueError):
        make_self_signed(["bad name"])
