"""``vxdial try URL|FILE`` (PRODUCT.md section 5), the installed command run as a
subprocess against small documents: files in tmp_path, and a real aiohttp server on
loopback for URLs and start fields."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

VXDIAL = str(Path(sys.executable).with_name("vxdial"))


def vxml(body: str) -> str:
    return (
        '<?xml version="1.0"?>\n'
        '<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">\n'
        f"{body}\n</vxml>\n"
    )


def vxdial_try(
    *args: str, input: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Standard input is /dev/null unless ``input`` is given (a pipe)."""
    return subprocess.run(
        [VXDIAL, "try", *args],
        stdin=None if input is not None else subprocess.DEVNULL,
        input=input,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def lines(text: str) -> list[str]:
    return text.splitlines()


# -- a web application on loopback ------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    fields: dict[str, str]


@dataclass
class AppServer:
    """Serves ``documents`` by path (404 otherwise); ``/slow`` never answers in time.
    Every request is kept in ``seen``."""

    base: str = ""
    documents: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def seen_at(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


@pytest.fixture(scope="module")
def server() -> Iterator[AppServer]:
    state = AppServer()

    async def answer(request: web.Request) -> web.StreamResponse:
        fields = {k: str(v) for k, v in (await request.post()).items()}
        state.seen.append(Seen(request.method, request.path, dict(request.query), fields))
        if request.path == "/slow":
            await asyncio.sleep(30)
        body = state.documents.get(request.path)
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(text=body, content_type="application/voicexml+xml")

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", answer)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    host, port = runner.addresses[0][:2]
    state.base = f"http://{host}:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


# -- documents --------------------------------------------------------------------------

# Three inputs: a one-key choice, an account number ended by #, a confirmation; each
# input's noinput and nomatch say so, and two noinputs in a row end the call. Each input
# waits ten minutes for keys: longer than the 60 s that ``vxdial_try`` allows a run (a
# guard against a hang), so a run that really waited fails, without a clock in the test.
THREE_INPUTS = vxml("""
  <property name="timeout" value="600s"/>
  <form id="main">
    <block><prompt>Welcome.</prompt></block>
    <field name="choice" type="digits?length=1">
      <prompt>Press a key.</prompt>
      <filled><prompt>Choice <value expr="choice"/>.</prompt></filled>
    </field>
    <field name="account" type="digits">
      <prompt>Account number, then pound.</prompt>
      <filled><prompt>Account <value expr="account"/>.</prompt></filled>
    </field>
    <field name="sure" type="boolean">
      <prompt>Press 1 to confirm.</prompt>
      <filled><prompt>Confirmed.</prompt></filled>
    </field>
    <noinput>Silence.<reprompt/></noinput>
    <noinput count="2">Still silence. Goodbye.<exit/></noinput>
    <nomatch>Not understood.<reprompt/></nomatch>
  </form>
""")


@pytest.fixture
def three_inputs(tmp_path: Path) -> Path:
    path = tmp_path / "three.vxml"
    path.write_text(THREE_INPUTS)
    return path


# -- prompts and exit status ------------------------------------------------------------


def test_each_prompt_is_one_line_and_exit_is_status_0(tmp_path: Path) -> None:
    path = tmp_path / "hello.vxml"
    path.write_text(
        vxml("""
      <form>
        <block>
          <prompt>Hello,
             and   welcome [to] the <emphasis>test</emphasis>.</prompt>
          <prompt>Second prompt.</prompt>
          <exit/>
          <prompt>Never said.</prompt>
        </block>
      </form>
    """)
    )
    result = vxdial_try(str(path))
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ["Hello, and welcome [to] the test.", "Second prompt."]
    assert result.stderr == ""


@pytest.mark.parametrize(
    "ending",
    ["<exit/>", "", "<disconnect/>"],
    ids=["exit", "end-of-document", "disconnect"],
)
def test_a_normal_end_is_status_0(tmp_path: Path, ending: str) -> None:
    path = tmp_path / "end.vxml"
    path.write_text(vxml(f"<form><block><prompt>Bye.</prompt>{ending}</block></form>"))
    result = vxdial_try(str(path), "--verbose")
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ["Bye."]
    assert "[ended: " in result.stderr


@pytest.mark.parametrize(
    ("body", "event"),
    [
        ('<block><goto next="missing.vxml"/></block>', "error.badfetch"),
        ('<block><prompt><value expr="nosuch.thing"/></prompt></block>', "error.semantic"),
        ('<block><throw event="com.example.oops"/></block>', "com.example.oops"),
    ],
    ids=["badfetch", "semantic", "custom-event"],
)
def test_an_uncaught_event_is_named_with_a_nonzero_status(
    tmp_path: Path, body: str, event: str
) -> None:
    path = tmp_path / "broken.vxml"
    path.write_text(vxml(f"<form><block><prompt>Before.</prompt></block>{body}</form>"))
    result = vxdial_try(str(path))
    assert result.returncode == 1
    assert lines(result.stdout) == ["Before."]
    assert result.stderr.startswith(f"{event}: "), result.stderr
    if event == "error.badfetch":
        assert "missing.vxml" in result.stderr


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('<log expr="String.fromCharCode(0xD800)"/>', "UnicodeDecodeError"),
        ('<if cond="true">' * 250 + "<prompt>Deep.</prompt>" + "</if>" * 250, "RecursionError"),
    ],
    ids=["surrogate", "nested-ifs"],
)
def test_an_error_inside_the_interpreter_is_named_never_a_traceback(
    tmp_path: Path, body: str, error: str
) -> None:
    """Issue 12, item 4. The interpreter may come to make these documents VoiceXML
    errors of its own; either way one line names the error, with exit status 1."""
    path = tmp_path / "hostile.vxml"
    path.write_text(vxml(f"<form><block>{body}</block></form>"))
    result = vxdial_try(str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = lines(result.stderr)
    assert line.startswith(f"internal_error: {error}: ") or line.startswith("error."), line


def test_a_missing_start_file_is_error_badfetch(tmp_path: Path) -> None:
    result = vxdial_try(str(tmp_path / "nowhere.vxml"))
    assert result.returncode == 1
    assert result.stderr.startswith("error.badfetch: "), result.stderr
    assert "nowhere.vxml: no such file" in result.stderr


# -- the caller -------------------------------------------------------------------------


def test_dtmf_groups_one_per_input_empty_is_silence(three_inputs: Path) -> None:
    result = vxdial_try(str(three_inputs), "--dtmf", "7,,42#,9,1", "--verbose")
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == [
        "Welcome.",
        "Press a key.",
        "Choice 7.",
        "Account number, then pound.",
        "Silence.",
        "Account number, then pound.",
        "Account 42.",
        "Press 1 to confirm.",
        "Not understood.",
        "Press 1 to confirm.",
        "Confirmed.",
    ]
    notes = lines(result.stderr)
    assert notes[0] == f"[fetch GET {three_inputs.as_uri()}]"
    waits = [n for n in notes if n.startswith(("[waiting", "[pressed", "[noinput"))]
    assert waits == [
        "[waiting for keys]",
        "[pressed 7]",
        "[waiting for keys]",
        "[noinput]",
        "[waiting for keys]",
        "[pressed 42#]",
        "[waiting for keys]",
        "[pressed 9]",
        "[waiting for keys]",
        "[pressed 1]",
    ]
    assert notes[-1] == "[ended: end of the application]"


def test_once_the_groups_run_out_the_caller_is_silent(three_inputs: Path) -> None:
    # Each silence is a noinput at once: the document's 600 s timeouts are not waited
    # (were they, the run would outlast vxdial_try's guard and fail).
    result = vxdial_try(str(three_inputs), "--dtmf", "1", "--verbose")
    assert result.returncode == 0, result.stderr
    waits = [n for n in lines(result.stderr) if n.startswith(("[waiting", "[pressed", "[noinput"))]
    # The scripted caller's waits are not timed (at a terminal they say "600 s").
    assert waits == ["[waiting for keys]", "[pressed 1]"] + ["[waiting for keys]", "[noinput]"] * 2
    assert lines(result.stdout) == [
        "Welcome.",
        "Press a key.",
        "Choice 1.",
        "Account number, then pound.",
        "Silence.",
        "Account number, then pound.",
        "Still silence. Goodbye.",
    ]


def test_a_standard_input_that_is_not_a_terminal_is_silence(three_inputs: Path) -> None:
    # At once, as with --dtmf: the 600 s timeouts are not waited.
    result = vxdial_try(str(three_inputs), input="1\n42#\n1\n")  # a pipe: not read
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == [
        "Welcome.",
        "Press a key.",
        "Silence.",
        "Press a key.",
        "Still silence. Goodbye.",
    ]


def _on_a_terminal(
    args: Sequence[str],
    typing: Sequence[tuple[float, bytes]],
    *,
    after_stderr: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``vxdial try`` with a pseudo-terminal as standard input, typing each
    ``(after_s, bytes)``. With ``after_stderr``, the typing starts once a line of
    standard error contains it (a loaded machine can take longer to start the program
    than the first pauses last)."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [VXDIAL, "try", *args],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    os.close(slave)
    seen = ""
    try:
        if after_stderr is not None:
            assert process.stderr is not None
            while after_stderr not in seen:
                line = process.stderr.readline()
                if not line:
                    break
                seen += line
        for after_s, data in typing:
            time.sleep(after_s)
            os.write(master, data)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, seen + stderr)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_at_a_terminal_keys_are_typed_lines_and_timeouts_are_real(tmp_path: Path) -> None:
    path = tmp_path / "keyboard.vxml"
    path.write_text(
        vxml("""
      <property name="timeout" value="0.3s"/>
      <form>
        <field name="choice" type="digits">
          <prompt>Type a number.</prompt>
          <noinput>Nothing.<reprompt/></noinput>
          <filled><prompt>You typed <value expr="choice"/>.</prompt></filled>
        </field>
      </form>
    """)
    )
    # Nothing is typed until the 0.3 s timeout has run out once (a noinput, before any
    # key: the timeout is real); then an empty line (a noinput at once), then a number
    # typed with spaces and a key that is not DTMF.
    result = _on_a_terminal([str(path)], [(0, b"\n"), (0.2, b"4 2x#\n")], after_stderr="[noinput]")
    assert result.returncode == 0, result.stderr
    said = lines(result.stdout)
    assert said[0] == "Type a number."
    assert said[-1] == "You typed 42."
    # At least one noinput from the timeout and one from the empty line.
    assert said.count("Nothing.") >= 2, said
    notes = lines(result.stderr)
    assert notes[:2] == ["[waiting for keys: 0.3 s]", "[noinput]"]  # nothing typed yet
    assert 'ignored "x"' in result.stderr


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_at_a_terminal_end_of_input_hangs_up(tmp_path: Path) -> None:
    path = tmp_path / "hangup.vxml"
    path.write_text(
        vxml("""
      <form>
        <field name="choice" type="digits"><prompt>Type a number.</prompt></field>
        <catch event="connection.disconnect.hangup"><log>gone</log></catch>
      </form>
    """)
    )
    result = _on_a_terminal([str(path), "--verbose"], [(0.5, b"\x04")])  # Ctrl-D
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ["Type a number."]
    assert "[caller hung up]" in result.stderr
    assert "gone" in result.stderr  # the <log> of the hangup handler


# -- recordings and transfers --------------------------------------------------------

RECORD_AND_TRANSFER = vxml("""
  <form>
    <record name="message" beep="true" maxtime="60s" finalsilence="1s" dtmfterm="true">
      <prompt>Speak after the tone.</prompt>
      <filled>
        <if cond="message$.termchar">
          <prompt>Recorded, ended by <value expr="message$.termchar"/>.</prompt>
        <else/>
          <prompt>Recorded.</prompt>
        </if>
      </filled>
      <noinput>
        <prompt>Nothing recorded.</prompt>
        <assign name="message" expr="'nothing'"/>
      </noinput>
    </record>
    <transfer name="call" dest="tel:+15559870000" bridge="true" connecttimeout="20s">
      <prompt>Transferring.</prompt>
      <filled><prompt>Transfer: <value expr="call"/>.</prompt></filled>
    </transfer>
    <block><prompt>Goodbye.</prompt></block>
  </form>
""")


def test_the_caller_speaks_and_the_transfer_is_answered_by_default(tmp_path: Path) -> None:
    path = tmp_path / "record.vxml"
    path.write_text(RECORD_AND_TRANSFER)
    result = vxdial_try(str(path), "--verbose")
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == [
        "Speak after the tone.",
        "Recorded.",  # ended by silence: no termchar
        "Transferring.",
        "Transfer: far_end_disconnect.",
        "Goodbye.",
    ]
    notes = lines(result.stderr)
    assert "[record after a beep: the caller speaks 2 s, then silence]" in notes
    assert "[bridged transfer to tel:+15559870000: far_end_disconnect after 10 s]" in notes

    # None of it is waited: an hour of speech and an hour of transfer end at once (a run
    # that waited would outlast vxdial_try's 60 s guard and fail).
    hour = tmp_path / "hour.vxml"
    hour.write_text(RECORD_AND_TRANSFER.replace('maxtime="60s"', 'maxtime="7200s"'))
    args = ["--record-seconds", "3600", "--transfer-seconds", "3600", "--verbose"]
    result = vxdial_try(str(hour), *args)
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout)[1:4] == [
        "Recorded.",
        "Transferring.",
        "Transfer: far_end_disconnect.",
    ]
    notes = lines(result.stderr)
    assert "[record after a beep: the caller speaks 3600 s, then silence]" in notes
    assert "[bridged transfer to tel:+15559870000: far_end_disconnect after 3600 s]" in notes


def test_record_and_transfer_options(tmp_path: Path) -> None:
    path = tmp_path / "record.vxml"
    path.write_text(RECORD_AND_TRANSFER)
    args = ["--record-seconds", "3", "--record-key", "#", "--transfer", "busy", "--verbose"]
    result = vxdial_try(str(path), *args)
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == [
        "Speak after the tone.",
        "Recorded, ended by #.",
        "Transferring.",
        "Transfer: busy.",
        "Goodbye.",
    ]
    notes = lines(result.stderr)
    assert "[record after a beep: the caller speaks 3 s, then presses #]" in notes
    assert "[bridged transfer to tel:+15559870000: busy]" in notes
    # A silent caller: nothing recorded.
    result = vxdial_try(str(path), "--record-seconds", "0", "--transfer", "noanswer")
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == [
        "Speak after the tone.",
        "Nothing recorded.",
        # No "Transferring.": after a catch without <reprompt>, the next form item's
        # prompts are not played (VoiceXML 2.0 appendix C).
        "Transfer: noanswer.",
        "Goodbye.",
    ]
    assert result.stderr == ""  # notes only with --verbose


def test_an_answered_blind_transfer_ends_the_call(tmp_path: Path) -> None:
    path = tmp_path / "blind.vxml"
    path.write_text(
        vxml("""
      <form>
        <transfer name="call" dest="sip:desk@pbx.example" bridge="false">
          <prompt>Transferring.</prompt>
          <filled><prompt>Still here: <value expr="call"/>.</prompt></filled>
        </transfer>
      </form>
    """)
    )
    result = vxdial_try(str(path), "--verbose")
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ["Transferring."]
    assert (
        "[blind transfer to sip:desk@pbx.example: handed over, the call is no longer ours]"
        in lines(result.stderr)
    )
    result = vxdial_try(str(path), "--transfer", "network_busy")
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ["Transferring.", "Still here: network_busy."]


def test_help_names_the_caller_options() -> None:
    result = subprocess.run(
        [VXDIAL, "try", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0
    for option in ("--record-seconds", "--record-key", "--transfer", "--transfer-seconds"):
        assert option in result.stdout
    assert "far_end_disconnect" in result.stdout


# -- documents: files, URLs, start fields, session variables --------------------------


def test_relative_uris_resolve_against_the_files_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "start.vxml").write_text(
        vxml('<form><block><prompt>One.</prompt><goto next="sub/two.vxml"/></block></form>')
    )
    (tmp_path / "sub" / "two.vxml").write_text(
        vxml("""
      <script src="../lib.js"/>
      <form><block>
        <prompt>Two, <value expr="greeting()"/>.</prompt>
        <goto next="../three.vxml#last"/>
      </block></form>
    """)
    )
    (tmp_path / "lib.js").write_text("function greeting() { return 'from a script'; }\n")
    (tmp_path / "three.vxml").write_text(
        vxml("""
      <form id="first"><block><prompt>Not this one.</prompt></block></form>
      <form id="last"><block><prompt>Three.</prompt></block></form>
    """)
    )
    # The start file named relative to the working directory.
    result = vxdial_try("../start.vxml", cwd=tmp_path / "sub")
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ["One.", "Two, from a script.", "Three."]
    # A dialog of the file by its id.
    result = vxdial_try("three.vxml#last", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ["Three."]


def test_a_url_is_fetched_with_get_and_relative_links_follow(server: AppServer) -> None:
    server.documents["/get/start.vxml"] = vxml("""
      <form>
        <field name="pin" type="digits?length=4"><prompt>PIN?</prompt></field>
        <block><submit next="check.vxml" namelist="pin"/></block>
      </form>
    """)
    server.documents["/get/check.vxml"] = vxml(
        "<form><block><prompt>Checked.</prompt><disconnect/></block></form>"
    )
    result = vxdial_try(server.url("/get/start.vxml"), "--dtmf", "1234")
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ["PIN?", "Checked."]
    assert [(s.method, s.fields) for s in server.seen_at("/get/start.vxml")] == [("GET", {})]
    assert [(s.method, s.query) for s in server.seen_at("/get/check.vxml")] == [
        ("GET", {"pin": "1234"})
    ]


def test_post_fields_are_posted_to_the_start_url(server: AppServer) -> None:
    server.documents["/post/start.vxml"] = vxml("""
      <form><block>
        <prompt>Started.</prompt>
        <var name="answer" expr="'yes'"/>
        <submit next="/post/result" method="post" namelist="answer"/>
      </block></form>
    """)
    server.documents["/post/result"] = vxml("<form><block><exit/></block></form>")
    result = vxdial_try(
        server.url("/post/start.vxml"),
        "--post",
        "call_id=42",
        "--post",
        "message_reference=ref=7",
        "--verbose",
    )
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ["Started."]
    [start] = server.seen_at("/post/start.vxml")
    assert (start.method, start.fields) == (
        "POST",
        {"call_id": "42", "message_reference": "ref=7"},
    )
    [submitted] = server.seen_at("/post/result")
    assert (submitted.method, submitted.fields) == ("POST", {"answer": "yes"})
    url = server.url("/post/start.vxml")
    assert f"[fetch POST {url} call_id=42&message_reference=ref%3D7]" in result.stderr


def test_an_http_error_is_error_badfetch_with_its_status(server: AppServer) -> None:
    result = vxdial_try(server.url("/not-there.vxml"))
    assert result.returncode == 1
    assert result.stderr.startswith("error.badfetch.http.404: "), result.stderr


def test_session_variables(tmp_path: Path) -> None:
    path = tmp_path / "session.vxml"
    path.write_text(
        vxml("""
      <form><block><prompt>
        From <value expr="session.telephone.ani"/> to <value expr="session.telephone.dnis"/>,
        a <value expr="session.connection.callee_type"/>,
        call <value expr="session.call_id + 1"/>.
      </prompt></block></form>
    """)
    )
    result = vxdial_try(
        str(path),
        "--session",
        "telephone.ani=15551230000",
        "--session",
        "session.telephone.dnis=15559870000",
        "--session",
        "call_id=41",
    )
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ["From 15551230000 to 15559870000, a voice, call 42."]


# -- limits and arguments -----------------------------------------------------------------


def test_timeout_stops_an_application_that_never_ends(server: AppServer) -> None:
    server.documents["/forever.vxml"] = vxml(
        '<form><block><prompt>Waiting.</prompt><goto next="/slow"/></block></form>'
    )
    # /slow answers after 30 s, with a 404 (error.badfetch, status 1): status 124 says
    # --timeout ended the run first.
    result = vxdial_try(server.url("/forever.vxml"), "--timeout", "0.5")
    assert result.returncode == 124
    assert result.stderr.strip() == (
        "timeout: the application was still running after 0.5 s (--timeout)"
    )


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--dtmf", "1,2x"], "DTMF keys"),
        (["--post", "novalue"], "is not NAME=VALUE"),
        (["--post", "a=1"], "only be posted to an http(s) URL"),
        (["--session", "telephone=1"], "is an object"),
        (["--timeout", "0"], "more than 0 seconds"),
        (["--record-seconds", "-1"], "0 seconds or more"),
        (["--record-key", "12"], "is not one DTMF key"),
        (["--transfer", "answer"], "must be one of far_end_disconnect, near_end_disconnect"),
        (["--transfer-seconds", "nan"], "0 seconds or more"),
    ],
    ids=[
        "dtmf",
        "post-pair",
        "post-to-file",
        "session-object",
        "timeout",
        "record-seconds",
        "record-key",
        "transfer",
        "transfer-seconds",
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, args: list[str], complaint: str) -> None:
    path = tmp_path / "app.vxml"
    path.write_text(vxml("<form><block><prompt>Never.</prompt></block></form>"))
    result = vxdial_try(str(path), *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert complaint in result.stderr
