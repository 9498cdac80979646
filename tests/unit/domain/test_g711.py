"""G.711 against the ITU-T tables, SoX, and its own round trips."""

from __future__ import annotations

import struct
import subprocess

from hypothesis import given
from hypothesis import strategies as st

from vxdial.domain import g711

EVERY_SAMPLE = struct.pack("<65536h", *range(-32768, 32768))
EVERY_CODE = bytes(range(256))
samples = st.integers(min_value=-32768, max_value=32767)


def sox(data: bytes, source: list[str], target: list[str]) -> bytes:
    command = ["sox", "-D", "-t", "raw", "-r", "8000", "-c", "1", *source, "-"]
    command += ["-t", "raw", *target, "-"]
    return subprocess.run(command, input=data, capture_output=True, check=True).stdout


def test_known_values_of_the_g711_tables() -> None:
    # µ-law (G.711 table 2): 0xFF and 0x7F are the two zeros, 0x80/0x00 the extremes
    # (8031 and -8031 in the 14-bit domain, times 4).
    assert [g711.ulaw_to_linear(c) for c in (0xFF, 0x7F, 0x80, 0x00)] == [0, 0, 32124, -32124]
    assert [g711.ulaw_to_linear(c) for c in (0xFE, 0x7E)] == [8, -8]  # the first step
    assert g711.linear_to_ulaw(0) == 0xFF
    assert g711.linear_to_ulaw(32767) == 0x80
    assert g711.linear_to_ulaw(-32768) == 0x00
    # A-law (G.711 table 1): even bits inverted; 0xD5/0x55 are +-8 (1 in 13 bits, x8
    # minus the half step), 0xAA/0x2A the extremes 4032 x 8.
    assert [g711.alaw_to_linear(c) for c in (0xD5, 0x55, 0xAA, 0x2A)] == [8, -8, 32256, -32256]
    assert g711.linear_to_alaw(0) == 0xD5
    assert g711.linear_to_alaw(-1) == 0x55  # one's complement: -1 is the smallest negative
    assert g711.linear_to_alaw(32767) == 0xAA
    assert g711.linear_to_alaw(-32768) == 0x2A


def test_decoding_matches_sox_for_every_code() -> None:
    for name, encoding in (("PCMU", "u-law"), ("PCMA", "a-law")):
        expected = sox(
            EVERY_CODE, ["-e", encoding, "-b", "8"], ["-e", "signed-integer", "-b", "16", "-L"]
        )
        assert g711.decode(EVERY_CODE, name) == expected


def test_encoding_agrees_with_sox_but_on_decision_values() -> None:
    # SoX rounds inputs lying exactly on a decision value up; the ITU reference code
    # truncates. Everywhere else the two agree, and never by more than one step.
    for name, encoding, limit in (("PCMU", "u-law", 512), ("PCMA", "a-law", 1024)):
        theirs = sox(
            EVERY_SAMPLE, ["-e", "signed-integer", "-b", "16", "-L"], ["-e", encoding, "-b", "8"]
        )
        ours = g711.encode(EVERY_SAMPLE, name)
        decode = g711.ulaw_to_linear if name == "PCMU" else g711.alaw_to_linear
        differing = [i for i in range(65536) if theirs[i] != ours[i]]
        assert 0 < len(differing) <= limit
        for index in differing:
            assert abs(decode(theirs[index]) - decode(ours[index])) <= 1024


@given(samples)
def test_ulaw_quantizes_to_the_nearest_level(sample: int) -> None:
    decoded = g711.ulaw_to_linear(g711.linear_to_ulaw(sample))
    clipped = max(-32124, min(32124, sample))
    magnitude = abs(clipped)
    step = 8 << max(0, (magnitude + 132).bit_length() - 8)  # the segment's step (x4)
    assert abs(decoded - clipped) <= step // 2 + 4


@given(samples)
def test_alaw_quantizes_to_the_nearest_level(sample: int) -> None:
    decoded = g711.alaw_to_linear(g711.linear_to_alaw(sample))
    clipped = max(-32256, min(32256, sample))
    step = 16 << max(0, abs(clipped).bit_length() - 9)  # the segment's step (x8)
    assert abs(decoded - clipped) <= step // 2 + 8


@given(st.binary(max_size=400), st.sampled_from(["PCMU", "PCMA"]))
def test_codes_survive_decode_then_encode(codes: bytes, name: str) -> None:
    decoded = g711.decode(codes, name)
    assert len(decoded) == 2 * len(codes)
    again = g711.encode(decoded, name)
    if name == "PCMU":  # the two zeros both become 0xFF
        codes = codes.replace(b"\x7f", b"\xff")
    assert again == codes


@given(st.lists(samples, max_size=300), st.sampled_from(["PCMU", "PCMA"]))
def test_table_encoding_is_the_reference_function(values: list[int], name: str) -> None:
    pcm = struct.pack(f"<{len(values)}h", *values)
    reference = g711.linear_to_ulaw if name == "PCMU" else g711.linear_to_alaw
    assert g711.encode(pcm, name) == bytes(reference(v) for v in values)
    assert g711.encode(pcm + b"\x01", name) == g711.encode(pcm, name)  # odd byte dropped
