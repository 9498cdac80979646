"""Cookie signing and the login form's CSRF token (no sockets, no database)."""

from __future__ import annotations

from vxdial.web.sessions import Signer, token_hash


def test_a_signed_value_comes_back_and_a_tampered_one_does_not() -> None:
    signer = Signer(b"k" * 32)
    signed = signer.sign("token-123")
    assert signer.unsign(signed) == "token-123"
    value, _, mac = signed.rpartition(".")
    assert signer.unsign(f"token-124.{mac}") is None
    assert signer.unsign(f"{value}.{'0' * len(mac)}") is None
    assert signer.unsign(value) is None  # no signature
    assert signer.unsign("") is None
    assert Signer(b"x" * 32).unsign(signed) is None  # another key


def test_the_login_token_depends_on_the_nonce_and_the_key() -> None:
    signer = Signer(b"k" * 32)
    assert signer.login_token("a") == signer.login_token("a")
    assert signer.login_token("a") != signer.login_token("b")
    assert Signer(b"x" * 32).login_token("a") != signer.login_token("a")


def test_only_a_hash_of_the_token_is_stored() -> None:
    assert token_hash("abc") != "abc" and len(token_hash("abc")) == 64
