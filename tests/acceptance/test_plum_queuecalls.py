"""queuecalls.php over real HTTP against a running vxdial, on SQLite and PostgreSQL.

PRODUCT.md section 2: a phone_list uploaded with multipart/form-data becomes a campaign
named by campaign_name (unique per sender); good lines are queued, every bad line is
reported with its line number and reason, a list with no good line fails. Section 7:
the campaign and its calls are then visible, to their sender only, through /api/v1.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import (
    ALICE,
    ALICE_PIN,
    BOB,
    BOB_PIN,
    OMIT,
    PREFIXES,
    Answer,
    Vxdial,
    assert_failed,
    multipart,
    path_of,
    phone_reason,
    read_answer,
)
from vxdial.config import IntakeSettings

TOO_SHORT_12 = f"phone_number: {phone_reason('12')}"
STATES = ["queued", "dialing", "ringing", "connected", "completed", "failed", "expired", "canceled"]


def unique_name(stem: str = "campaign") -> str:
    return f"{stem}-{uuid.uuid4().hex[:10]}"


def calls_of(answer: Answer) -> list[tuple[int, int, str]]:
    """(line, call_id, phone_number) of each <call>, in answer order."""
    found = []
    for element in answer.root.findall("call"):
        assert set(element.attrib) == {"line", "call_id", "phone_number"}, element.attrib
        assert element.text is None and len(element) == 0
        found.append(
            (
                int(element.attrib["line"]),
                int(element.attrib["call_id"]),
                element.attrib["phone_number"],
            )
        )
    return found


def assert_queued(
    answer: Answer, *, name: str, calls: list[tuple[int, str]], rejected: list[tuple[int, str]]
) -> int:
    """The documented success answer; returns the campaign_id."""
    assert answer.status == "queued", answer.text
    attrib = dict(answer.root.attrib)
    assert set(attrib) == {
        "status",
        "campaign_id",
        "campaign_name",
        "calls_queued",
        "lines_rejected",
    }
    campaign_id = int(attrib["campaign_id"])
    assert campaign_id > 0
    assert attrib["campaign_name"] == name
    assert attrib["calls_queued"] == str(len(calls))
    assert attrib["lines_rejected"] == str(len(rejected))
    # One <call> per good line in line order, then one <rejected> per bad line.
    tags = [child.tag for child in answer.root]
    assert tags == ["call"] * len(calls) + ["rejected"] * len(rejected), answer.text
    found = calls_of(answer)
    assert [(line, number) for line, _, number in found] == calls
    assert len({call_id for _, call_id, _ in found}) == len(found)
    for element in answer.root.findall("rejected"):
        assert set(element.attrib) == {"line"}
    assert answer.rejected == rejected
    return campaign_id


def campaign_ids(server: Vxdial, *, login: str = ALICE, pin: str = ALICE_PIN) -> set[int]:
    return {c["id"] for c in server.campaigns(login=login, pin=pin)}


def campaign_names(server: Vxdial, *, login: str = ALICE, pin: str = ALICE_PIN) -> set[str]:
    return {c["name"] for c in server.campaigns(login=login, pin=pin)}


def counts(queued: int) -> dict[str, int]:
    return {state: (queued if state == "queued" else 0) for state in STATES}


def test_a_rejected_line_reads_as_product_md_shows(shared_vxdial: Vxdial) -> None:
    answer = shared_vxdial.queuecalls("15551234567\n12\n")
    assert answer.rejected[0][0] == 2
    assert answer.rejected[0][1].startswith('phone_number: "12" is not a valid phone number')


# -- the answer to an upload ----------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_queued_answer_is_exactly_the_documented_one(shared_vxdial: Vxdial, prefix: str) -> None:
    server = shared_vxdial
    name = unique_name("reminders")
    answer = server.queuecalls(
        "15551234567\n12\n+1 (555) 765-4321\n", prefix=prefix, campaign_name=name
    )
    campaign_id = assert_queued(
        answer,
        name=name,
        calls=[(1, "15551234567"), (3, "15557654321")],
        rejected=[(2, TOO_SHORT_12)],
    )

    # The campaign is listed with its calls counted; its calls are those answered.
    [listed] = [c for c in server.campaigns() if c["id"] == campaign_id]
    assert listed["name"] == name
    assert listed["state"] == "active"
    assert listed["total"] == 2
    assert listed["counts"] == counts(2)
    assert listed["settings"]["start_url"] == server.start_url
    assert server.api_json(f"/campaigns/{campaign_id}")["total"] == 2
    stored = server.api_all(f"/campaigns/{campaign_id}/calls")
    assert [
        (c["id"], c["line"], c["phone_number"], c["state"], c["campaign_name"]) for c in stored
    ] == [(call_id, line, number, "queued", name) for line, call_id, number in calls_of(answer)]
    for line, call_id, number in calls_of(answer):
        call = server.api_json(f"/calls/{call_id}")
        assert (call["campaign_id"], call["line"], call["phone_number"]) == (
            campaign_id,
            line,
            number,
        )


def test_the_answer_escapes_the_campaign_name_and_reasons(shared_vxdial: Vxdial) -> None:
    name = f'Q&A "<calls>" {uuid.uuid4().hex[:6]}'
    answer = shared_vxdial.queuecalls("15551234567\n<12>&\n", campaign_name=name)
    assert_queued(
        answer,
        name=name,
        calls=[(1, "15551234567")],
        rejected=[(2, f"phone_number: {phone_reason('<12>&')}")],
    )
    assert name in campaign_names(shared_vxdial)


def test_settings_apply_to_every_call(shared_vxdial: Vxdial) -> None:
    server = shared_vxdial
    result_url = server.webapp.url("/result")
    name = unique_name()
    answer = server.queuecalls(
        "15551230001\n15551230002\n",
        campaign_name=name,
        result_url=result_url,
        max_retry="2",
        retry_interval="300",
        scheduled_time="tomorrow 9am",
        expiration_timestamp="1800000000",
    )
    campaign_id = assert_queued(
        answer, name=name, calls=[(1, "15551230001"), (2, "15551230002")], rejected=[]
    )
    expected = {
        "start_url": server.start_url,
        "result_url": result_url,
        "max_retries": 2,
        "retry_interval": 300,
        "scheduled_at": "2026-03-02T09:00:00Z",
        "expires_at": "2027-01-15T08:00:00Z",
    }
    assert server.api_json(f"/campaigns/{campaign_id}")["settings"] == expected
    for call in server.api_all(f"/campaigns/{campaign_id}/calls"):
        assert call["settings"] == expected


def test_per_line_and_request_level_references(shared_vxdial: Vxdial) -> None:
    server = shared_vxdial
    phone_list = (
        "15551230001,line-ref,line-params\n"
        "15551230002\n"
        "15551230003,only-ref\n"
        "15551230004,,only-params\n"
        '"15551230005","ref, with a comma","a=1,b=2"\n'
        "tel:+44-20-7946-0958;ani=15557654321;postd=1w2,uk\n"
    )
    name = unique_name()
    answer = server.queuecalls(
        phone_list, campaign_name=name, message_reference="req-ref", call_parameters="req-params"
    )
    campaign_id = assert_queued(
        answer,
        name=name,
        calls=[
            (1, "15551230001"),
            (2, "15551230002"),
            (3, "15551230003"),
            (4, "15551230004"),
            (5, "15551230005"),
            (6, "442079460958"),
        ],
        rejected=[],
    )
    stored = server.api_all(f"/campaigns/{campaign_id}/calls")
    assert [
        (c["line"], c["message_reference"], c["call_parameters"], c["ani"], c["postd"])
        for c in stored
    ] == [
        (1, "line-ref", "line-params", None, None),
        (2, "req-ref", "req-params", None, None),
        (3, "only-ref", "req-params", None, None),
        (4, "req-ref", "only-params", None, None),
        (5, "ref, with a comma", "a=1,b=2", None, None),
        (6, "uk", "req-params", "15557654321", "1w2"),
    ]

    # Without request-level values, a line without its own has none.
    name = unique_name()
    answer = server.queuecalls("15551230001\n15551230002,ref\n", campaign_name=name)
    campaign_id = int(answer.root.attrib["campaign_id"])
    stored = server.api_all(f"/campaigns/{campaign_id}/calls")
    assert [(c["message_reference"], c["call_parameters"]) for c in stored] == [
        (None, None),
        ("ref", None),
    ]


def test_bom_blank_lines_and_crlf_are_accepted(shared_vxdial: Vxdial) -> None:
    name = unique_name()
    phone_list = "\ufeff15551230001,a\r\n\r\n12\r\n   \r\n15551230002\r\n\r\n".encode()
    answer = shared_vxdial.queuecalls(phone_list, campaign_name=name)
    assert_queued(
        answer,
        name=name,
        calls=[(1, "15551230001"), (5, "15551230002")],
        rejected=[(3, TOO_SHORT_12)],
    )


def test_line_numbers_are_those_of_the_file(shared_vxdial: Vxdial) -> None:
    # Blank lines count; a quoted comma does not split a field.
    phone_list = '"15551230001","a, b"\n12\n\n15551230002\n\n\n12\n'
    name = unique_name()
    answer = shared_vxdial.queuecalls(phone_list, campaign_name=name)
    assert_queued(
        answer,
        name=name,
        calls=[(1, "15551230001"), (4, "15551230002")],
        rejected=[(2, TOO_SHORT_12), (7, TOO_SHORT_12)],
    )


def test_every_kind_of_bad_line_is_reported_with_its_reason(shared_vxdial: Vxdial) -> None:
    lines = [
        b"15551230001",
        b"12",
        b"1" * 129,
        b"15551230002," + b"r" * 256,
        b"15551230003,ref," + b"p" * 256,
        b"15551230004,a,b,c",
        b"15551230005,\xff\xfe",
        b"15551234567;ext=12",
        b"tel:15551230006",
        b"15551230007,ok",
        b'"15551230008',  # an unclosed quote, on the last line
    ]
    name = unique_name()
    answer = shared_vxdial.queuecalls(b"\n".join(lines) + b"\n", campaign_name=name)
    assert answer.status == "queued", answer.text
    rejected = answer.rejected
    assert rejected[:8] == [
        (2, TOO_SHORT_12),
        (3, "phone_number: is longer than 128 characters"),
        (4, "message_reference: is longer than 255 characters"),
        (5, "call_parameters: is longer than 255 characters"),
        (6, "line has 4 fields; at most 3: phone_number,message_reference,call_parameters"),
        (7, "message_reference: is not valid UTF-8 text"),
        (8, f"phone_number: {phone_reason('15551234567;ext=12')}"),
        (9, f"phone_number: {phone_reason('tel:15551230006')}"),
    ]
    # The reason for a line that is not CSV is not part of the contract; its number is.
    [(line, reason)] = rejected[8:]
    assert line == 11
    assert reason, answer.text
    assert_queued(
        answer, name=name, calls=[(1, "15551230001"), (10, "15551230007")], rejected=rejected
    )


# -- campaign_name --------------------------------------------------------------------


def test_campaign_names_are_unique_per_sender(shared_vxdial: Vxdial) -> None:
    server = shared_vxdial
    name = unique_name("weekly")
    first = server.queuecalls("15551230001\n", campaign_name=name)
    first_id = assert_queued(first, name=name, calls=[(1, "15551230001")], rejected=[])

    again = server.queuecalls("15551230002\n", campaign_name=name)
    assert_failed(again, ("campaign_name", f'you already have a campaign named "{name}"'))
    assert [c["name"] for c in server.campaigns()].count(name) == 1
    assert server.api_json(f"/campaigns/{first_id}")["total"] == 1

    padded = server.queuecalls("15551230002\n", campaign_name=f"  {name} ")
    assert_failed(padded, ("campaign_name", f'you already have a campaign named "{name}"'))

    # Another sender may use the same name.
    theirs = server.queuecalls("15551230003\n", campaign_name=name, login=BOB, pin=BOB_PIN)
    bob_id = assert_queued(theirs, name=name, calls=[(1, "15551230003")], rejected=[])
    assert bob_id != first_id
    assert name in campaign_names(server, login=BOB, pin=BOB_PIN)


def test_concurrent_uploads_with_one_name_make_one_campaign(shared_vxdial: Vxdial) -> None:
    server = shared_vxdial
    name = unique_name("race")
    phone_list = "".join(f"1555123{n:04d}\n" for n in range(2000)).encode()
    fields = {
        "login": ALICE,
        "pin": ALICE_PIN,
        "campaign_name": name,
        "start_url": server.start_url,
    }

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
            posts = []
            for _ in range(4):
                body, content_type = multipart(fields, {"phone_list": ("l.csv", phone_list)})
                posts.append(
                    client.post(
                        "/webservice/queuecalls.php",
                        content=body,
                        headers={"Content-Type": content_type},
                        timeout=60,
                    )
                )
            return await asyncio.gather(*posts)

    answers = [read_answer(r, "queuecalls") for r in asyncio.run(race())]
    assert sorted(a.status or "" for a in answers) == ["failed", "failed", "failed", "queued"]
    for answer in answers:
        if answer.status == "failed":
            assert_failed(answer, ("campaign_name", f'you already have a campaign named "{name}"'))
    [campaign] = [c for c in server.campaigns() if c["name"] == name]
    assert campaign["total"] == 2000


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("default", ("campaign_name", '"default" is where single calls go; choose another name')),
        (" default ", ("campaign_name", '"default" is where single calls go; choose another name')),
        (OMIT, ("campaign_name", "is required")),
        ("   ", ("campaign_name", "is required")),
        ("x" * 65, ("campaign_name", "is longer than 64 characters")),
        ("tab\there", ("campaign_name", "must not contain control characters")),
    ],
    ids=["default", "default-padded", "missing", "blank", "over-64", "control"],
)
def test_campaign_name_rules(shared_vxdial: Vxdial, name: Any, expected: tuple[str, str]) -> None:
    before = campaign_ids(shared_vxdial)
    answer = shared_vxdial.queuecalls("15551230001\n", campaign_name=name)
    assert_failed(answer, expected)
    assert campaign_ids(shared_vxdial) == before


def test_a_64_character_name_is_accepted(shared_vxdial: Vxdial) -> None:
    name = unique_name().ljust(64, "n")
    answer = shared_vxdial.queuecalls("15551230001\n", campaign_name=name)
    assert_queued(answer, name=name, calls=[(1, "15551230001")], rejected=[])


def test_the_field_rules_of_queuecall_apply(shared_vxdial: Vxdial) -> None:
    answer = shared_vxdial.queuecalls(
        "15551230001\n", start_url=OMIT, max_retries="11", retry_interval="59"
    )
    assert sorted(answer.errors) == [
        ("max_retries", 'must be an integer from 0 to 10, not "11"'),
        ("retry_interval", 'must be an integer from 60 to 172800, not "59"'),
        ("start_url", "is required"),
    ]
    assert_failed(answer, *answer.errors)


def test_a_missing_phone_list_is_reported_with_the_other_problems(shared_vxdial: Vxdial) -> None:
    answer = shared_vxdial.queuecalls(None, max_retries="11")
    assert sorted(answer.errors) == [
        ("max_retries", 'must be an integer from 0 to 10, not "11"'),
        ("phone_list", "is required: upload the list of numbers as a file"),
    ]


def test_a_default_name_is_reported_with_the_other_problems(shared_vxdial: Vxdial) -> None:
    answer = shared_vxdial.queuecalls("15551230001\n", campaign_name="default", max_retries="11")
    assert sorted(answer.errors) == [
        ("campaign_name", '"default" is where single calls go; choose another name'),
        ("max_retries", 'must be an integer from 0 to 10, not "11"'),
    ]


# -- phone_list -----------------------------------------------------------------------


def test_urlencoded_posts_are_refused(shared_vxdial: Vxdial) -> None:
    before = campaign_ids(shared_vxdial)
    response = shared_vxdial.post(
        "/webservice/queuecalls.php",
        {
            "login": ALICE,
            "pin": ALICE_PIN,
            "campaign_name": unique_name(),
            "start_url": shared_vxdial.start_url,
            "phone_list": "15551230001\n",
        },
    )
    assert_failed(
        read_answer(response, "queuecalls"),
        ("phone_list", "must be uploaded as a file: POST multipart/form-data"),
    )
    assert campaign_ids(shared_vxdial) == before


def test_a_missing_phone_list_is_refused(shared_vxdial: Vxdial) -> None:
    before = campaign_ids(shared_vxdial)
    answer = shared_vxdial.queuecalls(None)
    assert_failed(answer, ("phone_list", "is required: upload the list of numbers as a file"))
    assert campaign_ids(shared_vxdial) == before


@pytest.mark.parametrize(
    "phone_list", [b"", b"\n\n  \n", b"\xef\xbb\xbf\r\n"], ids=["empty", "blank", "bom"]
)
def test_an_empty_phone_list_is_refused(shared_vxdial: Vxdial, phone_list: bytes) -> None:
    before = campaign_ids(shared_vxdial)
    answer = shared_vxdial.queuecalls(phone_list)
    assert_failed(answer, ("phone_list", "is empty: it must list one phone number a line"))
    assert campaign_ids(shared_vxdial) == before


def test_a_list_without_a_good_line_fails_and_leaves_nothing(shared_vxdial: Vxdial) -> None:
    server = shared_vxdial
    before = server.campaigns()
    calls_before = len(server.api_all("/calls"))
    name = unique_name()
    answer = server.queuecalls("12\n\n15551234567;foo=1\n", campaign_name=name)
    assert_failed(answer, ("phone_list", "no line could be queued"))
    assert answer.rejected == [
        (1, TOO_SHORT_12),
        (3, 'phone_number: unknown parameter ";foo"'),
    ]
    assert server.campaigns() == before
    assert len(server.api_all("/calls")) == calls_before

    # The name was not taken by the failed upload.
    answer = server.queuecalls("15551230001\n", campaign_name=name)
    assert_queued(answer, name=name, calls=[(1, "15551230001")], rejected=[])


def test_a_failed_upload_reports_every_bad_line(shared_vxdial: Vxdial) -> None:
    phone_list = "\n".join(["12"] * 1500) + "\n"
    answer = shared_vxdial.queuecalls(phone_list)
    assert answer.errors == [("phone_list", "no line could be queued")]
    assert answer.rejected == [(line, TOO_SHORT_12) for line in range(1, 1501)]


# -- the request itself -----------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
def test_get_is_refused_with_a_failed_answer(shared_vxdial: Vxdial, prefix: str) -> None:
    response = shared_vxdial.client.get(f"{prefix}/queuecalls.php", params={"login": ALICE})
    assert_failed(read_answer(response, "queuecalls"), ("request", "queuecalls.php takes a POST"))


def malformed_uploads() -> list[Any]:
    fields = {"login": ALICE, "pin": ALICE_PIN, "campaign_name": "x", "start_url": "http://h/"}
    eleven_files, eleven_type = multipart(
        fields, {f"phone_list{n}": ("l.csv", b"15551230001\n") for n in range(11)}
    )
    big_field, big_type = multipart({**fields, "phone_list": "15551230001\n" * 100_000})
    return [
        pytest.param("multipart/form-data", b"login=alice", id="no-boundary"),
        pytest.param("multipart/form-data; boundary=xyz", b"garbage", id="garbage"),
        pytest.param(eleven_type, eleven_files, id="eleven-files"),
        pytest.param(big_type, big_field, id="phone-list-as-a-1.2MB-field"),
    ]


@pytest.mark.parametrize(("content_type", "body"), malformed_uploads())
def test_a_malformed_upload_gets_a_failed_answer(
    shared_vxdial: Vxdial, content_type: str, body: bytes
) -> None:
    response = shared_vxdial.client.post(
        "/webservice/queuecalls.php", content=body, headers={"Content-Type": content_type}
    )
    answer = read_answer(response, "queuecalls")
    [(field, reason)] = answer.errors
    assert field in {"request", "phone_list"}
    assert reason, answer.text
    assert_failed(answer, (field, reason))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"login": OMIT, "pin": OMIT}, [("login", "is required"), ("pin", "is required")]),
        ({"pin": OMIT}, [("pin", "is required")]),
    ],
    ids=["both", "pin"],
)
def test_login_and_pin_are_required(
    shared_vxdial: Vxdial, fields: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert_failed(shared_vxdial.queuecalls("15551230001\n", **fields), *expected)


def test_wrong_login_and_wrong_pin_give_the_same_answer(vxdial: Vxdial) -> None:
    wrong_pin = vxdial.queuecalls("15551230001\n", pin="Nope-n0t-it-1")
    wrong_login = vxdial.queuecalls("15551230001\n", login="mallory")
    assert_failed(wrong_pin, ("login", "login or PIN is incorrect"))
    assert wrong_login.response.content == wrong_pin.response.content
    assert campaign_names(vxdial) == {"default"}
    for text in vxdial.answers:
        assert ALICE_PIN not in text
        assert "Nope-n0t-it-1" not in text


def test_a_start_url_that_fails_its_probe_creates_nothing(shared_vxdial: Vxdial) -> None:
    server = shared_vxdial
    start_url = server.unique_url()
    server.webapp.statuses[path_of(start_url)] = 404
    before = campaign_ids(server)
    answer = server.queuecalls("15551230001\n15551230002\n", start_url=start_url)
    assert_failed(answer, ("start_url", f"GET {start_url} answered HTTP 404; 200 is required"))
    result_url = server.unique_url("result")
    server.webapp.statuses[path_of(result_url)] = 500
    answer = server.queuecalls("15551230001\n", result_url=result_url)
    assert_failed(answer, ("result_url", f"GET {result_url} answered HTTP 500; 200 is required"))
    assert campaign_ids(server) == before


def test_urls_are_probed_once_per_upload(start_vxdial: Any) -> None:
    server: Vxdial = start_vxdial(intake=IntakeSettings(url_check_timeout_s=2.0, url_trust_s=0))
    result_url = server.webapp.url("/result")
    phone_list = "".join(f"1555123{n:04d}\n" for n in range(50))
    for expected in (1, 2):
        answer = server.queuecalls(phone_list, result_url=result_url)
        assert answer.status == "queued", answer.text
        assert len(server.webapp.seen("/start.vxml")) == expected
        assert len(server.webapp.seen("/start.vxml", "GET")) == expected
        assert len(server.webapp.seen("/result", "GET")) == expected


def test_an_upload_over_the_limit_is_refused_and_nothing_is_stored(start_vxdial: Any) -> None:
    server: Vxdial = start_vxdial(
        intake=IntakeSettings(url_check_timeout_s=2.0, max_upload_bytes=4096)
    )
    refused = ("phone_list", "the upload is larger than the limit of 4096 bytes")
    big = "".join(f"1555123{n:04d},reference {n}\n" for n in range(400)).encode()
    assert len(big) > 8000

    assert_failed(server.queuecalls(big), refused)

    # The same, sent without a Content-Length: refused while it streams in.
    fields = {
        "login": ALICE,
        "pin": ALICE_PIN,
        "campaign_name": unique_name(),
        "start_url": server.start_url,
    }
    body, content_type = multipart(fields, {"phone_list": ("list.csv", big)})

    def chunks() -> Any:
        for start in range(0, len(body), 1024):
            yield body[start : start + 1024]

    response = server.client.post(
        "/webservice/queuecalls.php", content=chunks(), headers={"Content-Type": content_type}
    )
    assert "content-length" not in response.request.headers
    assert_failed(read_answer(response, "queuecalls"), refused)

    assert campaign_names(server) == {"default"}
    assert server.api_all("/calls") == []

    # Under the limit is fine.
    small = big[:2000].rsplit(b"\n", 1)[0] + b"\n"
    answer = server.queuecalls(small)
    assert answer.status == "queued", answer.text


# -- a large upload ---------------------------------------------------------------------


def test_a_100000_line_upload(shared_vxdial: Vxdial) -> None:
    server = shared_vxdial
    size, every = 100_000, 997
    lines = []
    for line in range(1, size + 1):
        lines.append("12" if line % every == 0 else f"1555{line:07d},ref-{line}")
    body = ("\n".join(lines) + "\n").encode()
    name = unique_name("big")

    # The 120 s only guards against a hang; how fast ingest is, bench/ingest.py says.
    answer = server.queuecalls(body, campaign_name=name, timeout=120)

    bad = list(range(every, size + 1, every))
    assert len(bad) == 100
    campaign_id = assert_queued(
        answer,
        name=name,
        calls=[(line, f"1555{line:07d}") for line in range(1, size + 1) if line % every],
        rejected=[(line, TOO_SHORT_12) for line in bad],
    )
    summary = server.api_json(f"/campaigns/{campaign_id}")
    assert summary["total"] == size - len(bad)
    assert summary["counts"] == counts(size - len(bad))
    [listed] = [c for c in server.campaigns() if c["id"] == campaign_id]
    assert listed["total"] == size - len(bad)

    # The first and the last calls are stored as answered.
    answered = calls_of(answer)
    first_page = server.api_json(f"/campaigns/{campaign_id}/calls?limit=1000")["items"]
    assert [(c["line"], c["id"], c["phone_number"]) for c in first_page] == answered[:1000]
    assert first_page[0]["message_reference"] == "ref-1"
    last = server.api_json(f"/calls/{answered[-1][1]}")
    assert (last["line"], last["phone_number"], last["message_reference"]) == (
        size,
        f"1555{size:07d}",
        f"ref-{size}",
    )


# -- senders see only their own -------------------------------------------------------------


def test_another_sender_cannot_see_a_campaign_or_its_calls(shared_vxdial: Vxdial) -> None:
    server = shared_vxdial
    name = unique_name("private")
    answer = server.queuecalls("15551230001\n15551230002\n", campaign_name=name)
    campaign_id = int(answer.root.attrib["campaign_id"])
    call_ids = [call_id for _, call_id, _ in calls_of(answer)]
    single_answer = server.queuecall()
    single_id = int(single_answer.root.attrib["call_id"])

    as_bob = {"login": BOB, "pin": BOB_PIN}
    for path in (
        f"/campaigns/{campaign_id}",
        f"/campaigns/{campaign_id}/calls",
        *(f"/calls/{call_id}" for call_id in [*call_ids, single_id]),
    ):
        assert server.api(path, **as_bob).status_code == 404, path
        assert server.api(path).status_code == 200, path
    bob_campaigns = server.campaigns(**as_bob)
    assert campaign_id not in {c["id"] for c in bob_campaigns}
    alice_default = [c["id"] for c in server.campaigns() if c["name"] == "default"]
    assert not set(alice_default) & {c["id"] for c in bob_campaigns}
    bob_calls = {c["id"] for c in server.api_all("/calls", **as_bob)}
    assert not bob_calls & {*call_ids, single_id}
    assert server.api_all(f"/calls?campaign_id={campaign_id}", **as_bob) == []
