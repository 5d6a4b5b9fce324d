"""A large sync's user listing in a process of its own (``python -m accounts.sync.listing_process``).

The listing is a cursor: one page after the other, each parsed before the next is asked for
(JSON, then the records). In a thread of the sync's process that parsing shares the interpreter
lock with the main thread's comparisons and writes, so each slows the other down: at 100,000
users the no-change re-sync took 1.14-1.18 x the client alone, the first sync 1.4 x, however the
two threads took turns (governance/foreground.py). In a child process the listing parses on the
other core, and the sync's main thread only unpickles each batch (about 40 ms for 5,000 users).

The parent (:func:`listing_batches`) starts the child with ``sys.executable``, hands it the
client's options on its stdin (the org API key goes over that pipe, never in a command line or
the environment) and reads batches back from its stdout, each a length-prefixed pickle: a
:class:`~accounts.sync.prefetch.Batch` with its ``requested_at``, then the error the listing
ended with, if any, and the child's call counts. The child never touches the database and does
not set Django up: it imports the Atlassian client and ``batched``, nothing else.

As the thread it replaces, it keeps at most two batches ahead of the sync: one waiting for the
sync, one it holds until the sync takes the first. Leaving the block early stops the child.
The pickles come from a child of this process running this file: they are trusted as
multiprocessing trusts its own.
"""

import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # where ``-m accounts.sync.listing_process`` imports from
_HEADER = struct.Struct(">Q")  # a frame's length
_STOP_WAIT = 5.0  # seconds the parent waits for the child to exit before killing it


class ListingProcessError(RuntimeError):
    """The listing's process ended without saying how the listing ended (killed, crashed)."""


def _write_frame(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's bytes, or None at the end of the stream (or a frame cut short)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    return data if len(data) == size else None


# --- The parent's side ------------------------------------------------------------------------


@contextmanager
def listing_batches(
    client_options: dict[str, Any], *, expand: Iterable[str], size: int, expected: int | None
) -> Iterator[tuple[Iterator, Any]]:
    """Start the child listing every directory user; the block gets ``(batches, stats)``.

    ``batches`` yields what :func:`~accounts.sync.prefetch.batched` makes of the pages, in
    order; an error of the listing is raised where its page would have come, after the batch of
    the pages read before it, as in a thread. ``stats`` is a
    :class:`~governance.atlassian.records.CallStats` holding the child's calls once the
    listing has ended. Raises OSError when the child cannot be started.
    """
    from governance.atlassian.records import CallStats

    proc = subprocess.Popen(
        [sys.executable, "-m", "accounts.sync.listing_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=PROJECT_ROOT,
    )
    stats = CallStats()
    ended = threading.Event()  # the child said how the listing ended: it exits on its own
    frames: queue.Queue[bytes | None] = queue.Queue()
    slot = threading.Semaphore(1)  # one batch read and waiting: the child holds the next one
    stopping = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        while True:
            slot.acquire()
            if stopping.is_set():
                return
            try:
                frame = _read_frame(proc.stdout)
            except (OSError, ValueError):  # the pipe closed under it: the block is being left
                frame = None
            frames.put(frame)
            if frame is None:
                return

    def batches() -> Iterator:
        while True:
            frame = frames.get()
            slot.release()
            if frame is None:
                try:
                    code = proc.wait(timeout=_STOP_WAIT)
                except subprocess.TimeoutExpired:
                    code = None
                raise ListingProcessError(
                    f"The user listing's process ended before the listing did (exit code {code}). "
                    "Nobody was marked removed and no activity was cleared."
                )
            kind, value = pickle.loads(frame)  # noqa: S301 (our own child, see the module docstring)
            if kind == "batch":
                yield value
                continue
            ended.set()
            if kind == "failed":
                error, counts = value
                stats.add(counts)
                raise error
            stats.add(value)  # "done"
            return

    reader = threading.Thread(target=read, name="sync-listing-reader", daemon=True)
    try:
        assert proc.stdin is not None
        # The child logs (retries, say) at the level the client's logger has here, to the same stderr.
        level = logging.getLogger("governance.atlassian").getEffectiveLevel()
        spec = dict(client=client_options, expand=tuple(expand), size=size, expected=expected, log_level=level)
        _write_frame(proc.stdin, spec)
        proc.stdin.close()
        reader.start()
        yield batches(), stats
    finally:
        stopping.set()
        if not ended.is_set() and proc.poll() is None:
            proc.terminate()  # the block was left early: nothing more of the listing is needed
        slot.release()  # a reader waiting for its slot sees ``stopping``
        if reader.is_alive():
            reader.join(timeout=_STOP_WAIT)
        try:
            proc.wait(timeout=_STOP_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


# --- The child's side -------------------------------------------------------------------------


def _portable_error(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a ListingProcessError saying what it was."""
    try:
        pickle.loads(pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301 (made just above)
    except Exception:
        return ListingProcessError(f"The user listing failed: {type(exc).__name__}: {exc}")
    return exc


def main() -> int:
    import gc

    from accounts.sync.prefetch import batched
    from governance.atlassian.client import AtlassianClient
    from governance.atlassian.errors import AtlassianError

    # Frames go to the parent on the original stdout; anything printed goes to stderr instead.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    frame = _read_frame(sys.stdin.buffer)
    if frame is None:
        return 2
    spec = pickle.loads(frame)  # noqa: S301 (written by the parent that started this process)
    logging.basicConfig(
        level=spec["log_level"], format="%(asctime)s %(levelname)s %(name)s [sync user listing] %(message)s"
    )
    # The records of a batch are freed by reference counting once sent (a collection after each
    # batch of a 100,000-user listing found nothing); the cyclic collector would walk them again
    # and again for nothing: at 100,000 users a quarter more CPU with it (bench/README.md).
    gc.disable()
    client = AtlassianClient(**spec["client"])
    try:
        try:
            pages = client.iter_user_pages(expand=spec["expand"])
            for batch in batched(pages, size=spec["size"], expected=spec["expected"], clock=lambda: datetime.now(UTC)):
                _write_frame(out, ("batch", batch))
        except BrokenPipeError:
            raise
        except Exception as exc:
            if not isinstance(exc, AtlassianError):
                traceback.print_exc()
            _write_frame(out, ("failed", (_portable_error(exc), client.stats)))
            return 1
        _write_frame(out, ("done", client.stats))
        return 0
    except BrokenPipeError:
        return 1  # the parent stopped reading: its sync is over
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
