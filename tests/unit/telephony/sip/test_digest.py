"""Digest authentication against the RFCs' own examples."""

from __future__ import annotations

import pytest

from vxdial.telephony.sip import digest
from vxdial.telephony.sip.digest import Challenge, Credentials


def _params(value: str) -> dict[str, str]:
    return digest.parse_auth_params(value.removeprefix("Digest "))


def test_rfc_2617_section_3_5_md5_with_qop_auth() -> None:
    challenge = Challenge.parse(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = digest.authorization(
        challenge,
        Credentials("Mufasa", "Circle Of Life"),
        method="GET",
        uri="/dir/index.html",
        cnonce="0a4f113b",
    )
    params = _params(value)
    assert params["response"] == "6629fae49393a05397450978507c4ef1"
    assert (params["qop"], params["nc"], params["cnonce"]) == ("auth", "00000001", "0a4f113b")
    assert params["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc_7616_section_3_9_1(algorithm: str, expected: str) -> None:
    challenge = Challenge.parse(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    value = digest.authorization(
        challenge,
        Credentials("Mufasa", "Circle of Life"),
        method="GET",
        uri="/dir/index.html",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    params = _params(value)
    assert params["response"] == expected
    assert params["algorithm"] == algorithm


def test_rfc_2069_form_without_qop() -> None:
    # RFC 2069 section 2.4's example: response = MD5(HA1:nonce:HA2).
    challenge = Challenge.parse(
        'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"'
    )
    params = _params(
        digest.authorization(
            challenge, Credentials("Mufasa", "CircleOfLife"), method="GET", uri="/dir/index.html"
        )
    )
    assert params["response"] == "1949323746fe6a43ef61f9606e7febea"
    assert "qop" not in params and "nc" not in params


def test_the_strongest_offered_algorithm_is_answered() -> None:
    offered = [
        'Digest realm="r", nonce="n1", algorithm=MD5, qop="auth"',
        'Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth"',
    ]
    chosen = digest.choose(offered, Credentials("u", "p"))
    assert (chosen.algorithm, chosen.nonce) == ("SHA-256", "n2")


@pytest.mark.parametrize(
    ("offered", "realm", "reason"),
    [
        ('Basic realm="r"', None, "scheme"),
        ('Digest realm="r", nonce="n", algorithm=SHA-512-256', None, "algorithm"),
        ('Digest realm="r", nonce="n", qop="auth-int"', None, "qop"),
        ('Digest realm="other", nonce="n"', "ours", "realm"),
        ('Digest nonce="n"', None, "realm or nonce"),
    ],
)
def test_challenges_we_cannot_answer(offered: str, realm: str | None, reason: str) -> None:
    with pytest.raises(digest.DigestError, match=reason):
        digest.choose([offered], Credentials("u", "p", realm))


def test_md5_sess_hashes_the_nonces_into_ha1() -> None:
    challenge = Challenge.parse('Digest realm="r", nonce="n", algorithm=MD5-sess, qop=auth')
    plain = Challenge.parse('Digest realm="r", nonce="n", algorithm=MD5, qop=auth')
    sess = _params(
        digest.authorization(
            challenge, Credentials("u", "p"), method="INVITE", uri="sip:x", cnonce="c"
        )
    )
    md5 = _params(
        digest.authorization(plain, Credentials("u", "p"), method="INVITE", uri="sip:x", cnonce="c")
    )
    assert sess["response"] != md5["response"]
    assert sess["algorithm"] == "MD5-sess"
