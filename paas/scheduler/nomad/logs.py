"""Allocation logs through Nomad (GET /v1/client/fs/logs/:alloc, plain text): the tail of each
instance, followed streams merged from every instance and stream, and the last lines of an
instance that ended (what a failed deployment shows)."""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Iterator

import requests
from nomad.api import exceptions as nomad_errors

from paas.domain.deployments import LAST_LINES
from paas.domain.errors import PaasError
from paas.domain.lines import FETCH_FOR_FAILURE, condense_output, split_lines
from paas.domain.scheduler import LogSink, instance_label

from .client import NomadApi

# A followed log yields "" after this many seconds of quiet (see Scheduler.logs).
HEARTBEAT = 1.0
STREAMS = ("stdout", "stderr")
# Bytes read back from the end of a log per line wanted (origin=end counts bytes, not lines).
BYTES_PER_LINE = 512


def log_params(task: str, stream: str, tail: int, follow: bool) -> dict:
    params = {"task": task, "type": stream, "plain": "true", "follow": str(follow).lower()}
    if tail > 0:
        params.update(origin="end", offset=str(tail * BYTES_PER_LINE))
    else:
        params.update(origin="start", offset="0")
    return params


def prefix(alloc: dict) -> str:
    return instance_label(alloc["TaskGroup"], alloc["ID"])


def read(api: NomadApi, alloc: dict, stream: str, tail: int) -> list[str]:
    """The last `tail` lines of one stream of an allocation's task ([] before it started)."""
    try:
        text = api.call(api.client.client.stream_logs, alloc["ID"],
                        params=log_params(alloc["TaskGroup"], stream, tail, False)).text
    except nomad_errors.URLNotFoundNomadException:
        return []  # not started yet, or gone: no logs
    lines = text.splitlines()
    return lines[-tail:] if tail > 0 else lines


def last_lines(api: NomadApi, alloc: dict, count: int = LAST_LINES) -> list[str]:
    """An instance's last output (stdout, then stderr, where errors usually are), at most
    `count` lines; [] when Nomad cannot serve them (the client node is gone)."""
    try:
        with api.errors("read the last lines of an instance"):
            lines = read(api, alloc, "stdout", FETCH_FOR_FAILURE) + read(api, alloc, "stderr", FETCH_FOR_FAILURE)
    except PaasError:
        return []  # best effort: the failure is still reported, without them
    return condense_output(lines, count)


def tail(api: NomadApi, allocs: list[dict], count: int) -> Iterator[str]:
    for alloc in allocs:
        for stream in STREAMS:
            with api.errors("read the logs"):
                lines = read(api, alloc, stream, count)
            for line in lines:
                yield f"{prefix(alloc)} {line}"


def follow(api: NomadApi, allocs: list[dict], count: int) -> Iterator[str]:
    """Every stream of every allocation, merged as lines arrive; "" after HEARTBEAT of quiet.
    Closing the iterator hangs up on every stream."""
    lines: queue.Queue = queue.Queue()
    responses: list[requests.Response] = []
    done = object()

    def pump(alloc: dict, stream: str) -> None:
        try:
            response = api.call(api.client.client.stream_logs, alloc["ID"], stream=True, timeout=None,
                                params=log_params(alloc["TaskGroup"], stream, count, True))
            responses.append(response)
            with response:
                for line in split_lines(response.iter_content(chunk_size=None)):
                    lines.put(f"{prefix(alloc)} {line}")
        except (nomad_errors.BaseNomadException, requests.RequestException, OSError, ValueError, AttributeError):
            pass  # the allocation went away, or the reader hung up
        finally:
            lines.put(done)

    pumps = [threading.Thread(target=pump, args=(a, s), daemon=True) for a in allocs for s in STREAMS]
    for thread in pumps:
        thread.start()
    remaining = len(pumps)
    try:
        while remaining:
            try:
                item = lines.get(timeout=HEARTBEAT)
            except queue.Empty:
                yield ""  # a keep-alive: the API notices a client that left when it writes
                continue
            if item is done:
                remaining -= 1
            else:
                yield item
    finally:
        for response in list(responses):
            hang_up(response)


def stream_to(api: NomadApi, alloc: dict, task: str, sink: LogSink) -> None:
    """Follow both streams of one allocation's task into sink until the task ends."""
    lock = threading.Lock()

    def pump(stream: str) -> None:
        try:
            response = api.call(api.client.client.stream_logs, alloc["ID"], stream=True, timeout=None,
                                params=log_params(task, stream, 0, True))
            with response:
                for line in split_lines(response.iter_content(chunk_size=None)):
                    with lock:
                        sink(line)
        except (nomad_errors.BaseNomadException, requests.RequestException, OSError, ValueError):
            pass  # no logs (the task never started): the exit status says why

    threads = [threading.Thread(target=pump, args=(s,), daemon=True) for s in STREAMS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def hang_up(response: requests.Response) -> None:
    """End a streamed answer that another thread is reading: shut the socket down (closing the
    response from here would wait for the reader's lock)."""
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
