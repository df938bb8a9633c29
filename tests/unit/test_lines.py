"""Line protocol read back: whatever the writer writes, the reader gives back as it was."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cablewatch.collectors.lineprotocol import line
from cablewatch.collectors.read.lines import parse_line

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(
    [" ", ",", "=", '"', "\\", "é", "\n"]), min_size=1, max_size=12)  # fmt: skip
_VALUE = st.one_of(st.integers(-(2**63), 2**63 - 1), st.booleans(), _TEXT,
                   st.floats(allow_nan=False, allow_infinity=False))  # fmt: skip


@given(_TEXT, st.dictionaries(_TEXT, _TEXT, max_size=4),
       st.dictionaries(_TEXT, _VALUE, min_size=1, max_size=5),
       st.integers(0, 2**62))  # fmt: skip
def test_what_the_writer_writes_reads_back(
    measurement: str, tags: dict[str, str], fields: dict[str, object], ts: int
) -> None:
    p = parse_line(line(measurement, tags, fields, ts))  # type: ignore[arg-type]
    assert p.measurement == measurement
    assert p.tags == tags
    assert p.time_ns == ts
    assert p.fields.keys() == fields.keys()
    for k, v in fields.items():
        got = p.fields[k]
        if isinstance(v, float):
            assert isinstance(got, float)
            assert math.isclose(got, v, rel_tol=0, abs_tol=0) or got == v
        else:
            assert (type(got), got) == (type(v), v)


def test_an_icmp_round_reads_back() -> None:
    text = ('ping,cable=APCN-2,host=sg\\ probe,protocol=icmp,region=singapore '
            'packets_transmitted=5i,packets_received=4i,median_response_ms=30.5,'
            'status="ok, \\"mostly\\"" 1796600000000000000')  # fmt: skip
    p = parse_line(text)
    assert p.tags == {"cable": "APCN-2", "host": "sg probe", "protocol": "icmp",
                      "region": "singapore"}  # fmt: skip
    assert p.fields == {"packets_transmitted": 5, "packets_received": 4,
                        "median_response_ms": 30.5, "status": 'ok, "mostly"'}  # fmt: skip
    assert p.time_ns == 1796600000000000000


@pytest.mark.parametrize("bad", ["", "ping", "ping a=1", "ping,x a=1 12x", 'ping a="open 1'])
def test_what_is_not_line_protocol_is_said(bad: str) -> None:
    with pytest.raises(ValueError, match="not line protocol"):
        parse_line(bad)


def _full_row(text: str) -> list[object]:
    p = parse_line(text)
    f = p.fields
    names = ("packets_transmitted", "packets_received", "median_response_ms", "jitter_ms",
             "minimum_response_ms")  # fmt: skip
    return [p.time_ns, p.tags.get("region"), p.tags.get("cable"), *(f.get(n) for n in names)]


@given(st.sampled_from(["ADC", "SEA ME WE 3", "a,b", "x=y", 'q"t', "b\\s"]),
       st.sampled_from(["ok", "loss", "a, b", "a,b", "x,packets_received=9i", "x=1",
                        'say "hi"', ""]),
       st.integers(0, 5), st.one_of(st.none(), st.floats(0.001, 1e4)),
       st.integers(0, 2**62))  # fmt: skip
def test_the_bus_reads_a_round_as_the_full_parser_does(
    cable: str, status: str, received: int, median: float | None, ts: int
) -> None:
    """The evaluator's quick read of a round's point (str.split) and the full parser agree,
    whatever the names and strings hold (where the quick read could misread, it steps aside)."""
    from cablewatch.evaluator.source_bus import round_rows_of

    text = line("ping", {"region": "singapore", "cable": cable, "protocol": "icmp",
                         "host": "sg-probe-1"},
                {"packets_transmitted": 5, "packets_received": received,
                 "median_response_ms": median, "jitter_ms": median and median / 3,
                 "minimum_response_ms": median and median / 2, "status": status},
                ts)  # fmt: skip
    row = _full_row(text)
    assert round_rows_of(text + "\nping_rtt,region=x rtt_ms=1.0 5") == [row]
    assert row[3:5] == [5, received]  # each field in its place, as written
    assert row[5:] == ([median, median / 3, median / 2] if median else [None] * 3)
