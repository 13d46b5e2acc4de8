"""The framing of attached runs (domain/run_stream.py) and Docker's multiplexed attach stream
(scheduler/docker_run.py): what a hostile client can send is refused, frames survive any split."""

from __future__ import annotations

import struct

import pytest

from paas.domain import run_stream
from paas.domain.run_stream import FROM_CLIENT, FROM_CONTROLLER, FrameReader, ProtocolError
from paas.scheduler.docker_run import Demultiplexer


def test_frames_come_out_whole_however_the_bytes_are_split():
    data = (run_stream.frame(run_stream.STDIN, b"echo hi\r") + run_stream.resize_frame(30, 100)
            + run_stream.frame(run_stream.STDIN_EOF))
    reader = FrameReader(FROM_CLIENT)
    got = [frame for byte in range(len(data)) for frame in reader.feed(data[byte:byte + 1])]
    assert got == [(b"i", b"echo hi\r"), (b"r", struct.pack(">HH", 30, 100)), (b"e", b"")]
    assert run_stream.parse_resize(got[1][1]) == (30, 100) and reader.pending == 0


def test_large_output_is_split_into_frames_of_the_maximum_size():
    data = b"x" * (run_stream.MAX_PAYLOAD * 2 + 5)
    frames = FrameReader(FROM_CONTROLLER).feed(run_stream.frames(run_stream.STDOUT, data))
    assert [len(payload) for _, payload in frames] == [run_stream.MAX_PAYLOAD, run_stream.MAX_PAYLOAD, 5]
    assert b"".join(payload for _, payload in frames) == data


def test_exit_codes_and_errors_round_trip():
    reader = FrameReader(FROM_CONTROLLER)
    [(kind, payload)] = reader.feed(run_stream.exit_frame(3))
    assert kind == run_stream.EXIT and run_stream.parse_exit(payload) == 3
    [(kind, payload)] = reader.feed(run_stream.error_frame("The command ran longer than 5s"))
    assert kind == run_stream.ERROR and payload.decode() == "The command ran longer than 5s"


@pytest.mark.parametrize("data", [
    run_stream.exit_frame(0),  # a client may not send what only the controller sends
    b"z" + struct.pack(">I", 0),  # no such kind
    b"i" + struct.pack(">I", run_stream.MAX_PAYLOAD + 1),  # bigger than a frame may be
])
def test_the_controller_refuses_frames_a_client_may_not_send(data):
    with pytest.raises(ProtocolError):
        FrameReader(FROM_CLIENT).feed(data)


@pytest.mark.parametrize("payload", [struct.pack(">HH", 0, 80), struct.pack(">HH", 24, 60000), b"\x00\x18"])
def test_impossible_window_sizes_are_refused(payload):
    with pytest.raises(ProtocolError):
        run_stream.parse_resize(payload)


def test_dockers_multiplexed_stream_is_split_into_stdout_and_stderr():
    def chunk(stream: int, data: bytes) -> bytes:
        return struct.pack(">BxxxI", stream, len(data)) + data

    data = chunk(1, b"out\n") + chunk(2, b"err\n") + chunk(1, b"")
    demux = Demultiplexer()
    got = [item for i in range(0, len(data), 3) for item in demux.feed(data[i:i + 3])]
    assert got == [("stdout", b"out\n"), ("stderr", b"err\n")]
