"""Fetch the next pages over HTTP in a background thread while the current batch is written.

:func:`user_batches` is what the sync uses: API pages of users regrouped into batches
(:func:`batched`) and fetched ahead (:func:`prefetching`), starting before the group phase; for
a large directory, by a process of its own instead (:mod:`accounts.sync.listing_process`).
Each batch says when the first of its pages was asked for (:class:`Batch`).
"""

import logging
import queue
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import ExitStack, closing, contextmanager, nullcontext
from datetime import datetime

from django.utils import timezone

from accounts.sync.listing_process import listing_batches
from governance.foreground import Foreground, waiting

log = logging.getLogger(__name__)

_DONE = object()
SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005
FINAL_STRETCH_SHARE = 0.1  # of the batch size, for the batches of a listing's last batch-size items


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


class Batch(list):
    """The items of a few consecutive pages, and ``requested_at``: the time just before the first
    of those pages was asked for (``None`` until then).

    The pages say how things stood at some moment after that: a change the portal makes in
    Atlassian later is newer than what the batch says, however late the batch is written.
    """

    __slots__ = ("requested_at",)

    def __init__(self, items: Iterable = ()):
        super().__init__(items)
        self.requested_at: datetime | None = None


def batched(
    pages: Iterable[list],
    *,
    size: int,
    expected: int | None = None,
    clock: Callable[[], datetime] = timezone.now,
) -> Iterator[Batch]:
    """The items of ``pages`` regrouped into batches of at least ``size`` (the last may be shorter).

    Pages are joined whole, in order, so a batch holds at most ``size`` + one page - 1 items.
    When reading a page fails, the pages read before it still come out (as a last, shorter batch)
    before the error is raised: they would have been written one by one. When every page is
    empty, one empty batch is still yielded, as the first page would have been.

    ``expected``: how many items the pages should hold in all (Atlassian's count of the users),
    or None. The batches of the last ``size`` of them are a tenth of ``size``
    (:data:`FINAL_STRETCH_SHARE`). A batch is written after its last page arrives, and the last
    batch after the listing ends, with nothing left to overlap it: in a re-sync of 100,000 users
    the last whole batches were still being compared 0.22 s after the last page (0.01 s since).
    The count only sizes batches: a listing longer or shorter than it loses nothing.

    ``clock`` is read before each page is asked for (the request goes out inside ``next()`` of a
    paging generator), and the batch keeps the reading taken for its first page.
    """
    batch = Batch()
    pages_read = batches_out = items_read = 0
    final_size = max(1, int(size * FINAL_STRETCH_SHARE))
    final_stretch_from = expected - size if expected is not None else None
    iterator = iter(pages)
    while True:
        asked_at = clock()
        try:
            page = next(iterator)
        except StopIteration:
            break
        except Exception:
            if batch:
                yield batch
            raise
        pages_read += 1
        if batch.requested_at is None:
            batch.requested_at = asked_at
        batch.extend(page)
        items_read += len(page)
        if len(batch) >= size or (
            final_stretch_from is not None and items_read > final_stretch_from and len(batch) >= final_size
        ):
            yield batch
            batch, batches_out = Batch(), batches_out + 1
    if batch or (pages_read and not batches_out):
        yield batch


def prefetch(
    pages: Iterable, *, depth: int = 3, switch_interval: float = SWITCH_INTERVAL, foreground: Foreground | None = None
) -> Generator:
    """Yield from ``pages`` while a background thread keeps up to ``depth`` pages ready.

    The thread starts on the first page asked for; see :func:`prefetching`.
    """
    with prefetching(pages, depth=depth, switch_interval=switch_interval, foreground=foreground) as items:
        yield from items


@contextmanager
def prefetching(
    pages: Iterable, *, depth: int = 3, switch_interval: float = SWITCH_INTERVAL, foreground: Foreground | None = None
) -> Iterator[Iterator]:
    """Start a background thread fetching ``pages`` now; the block iterates what it fetched.

    The thread only does HTTP (it never touches the database); an exception it meets is
    re-raised in the consumer at the point the failed page would have arrived. Memory stays
    bounded by ``depth`` pages. Leaving the block stops the thread (after its current request).

    The thread also parses what it fetches, which is Python holding the GIL. The consumer lets
    go of the GIL in every database call and, to get it back while the thread is parsing, waits
    for the interpreter's switch interval: 5 ms by default, thousands of times in a large sync,
    most of the consumer's time. While the thread runs, the interval is ``switch_interval``.

    With ``foreground``, the thread runs in it (governance/foreground.py) while the consumer is
    waiting for its next page: the consumer gives way to it then.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        iterator = iter(pages)
        with foreground.running() if foreground is not None else nullcontext():
            while True:
                # With a page already waiting in the queue, the consumer is the slower side: this
                # thread is then off the critical path, and the consumer need not give way to it.
                with waiting() if buffer.qsize() else nullcontext():
                    try:
                        page = next(iterator)
                    except StopIteration:
                        item = _DONE
                        break
                    except BaseException as exc:  # handed to the consumer, re-raised there
                        item = _Failure(exc)
                        break
                if stop.is_set():
                    return
                with waiting():  # a full queue waits for the consumer
                    buffer.put(page)
        buffer.put(item)

    def consume() -> Iterator:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    worker = threading.Thread(target=produce, name="sync-prefetch", daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, switch_interval))
    try:
        worker.start()
        yield consume()
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
        sys.setswitchinterval(interval)


@contextmanager
def user_batches(
    client,
    *,
    expand: Iterable[str],
    size: int,
    expected: int | None = None,
    depth: int = 1,
    foreground: Foreground | None = None,
    in_process_from: int = 0,
) -> Iterator[Iterator[Batch]]:
    """The directory's users in batches of ``size``, smaller for the last ``size`` of the
    ``expected`` count (see :func:`batched`), fetched ahead, by a thread in ``foreground`` (see
    :func:`prefetching`) or, for a large directory, by a process of its own.

    ``in_process_from``: when Atlassian counts at least this many users (``expected``; 0: never)
    and the client can be rebuilt in another process (``process_options``), the listing runs in
    a child process (:mod:`accounts.sync.listing_process`), started at once, two batches ahead
    at most as the thread is; its calls are counted in ``client.stats`` on the way out. If the
    child cannot be started, the thread lists them.

    With a client that can fork, a background thread starts fetching at once with a fork (its own
    HTTP session), so the block may go on using ``client`` meanwhile (the group phase); the fork's
    calls are counted in ``client.stats`` on the way out. Otherwise the thread uses ``client`` and
    starts on the first batch asked for, as :func:`prefetch` does.
    """
    portable = getattr(client, "process_options", None)  # an AtlassianClient's; fakes have none
    large = in_process_from and (expected or 0) >= in_process_from
    options = portable() if portable is not None and large else None
    if options is not None:
        with ExitStack() as stack:
            try:
                batches, stats = stack.enter_context(
                    listing_batches(options, expand=expand, size=size, expected=expected)
                )
            except OSError:
                log.warning("The user listing's process could not be started: listing in a thread", exc_info=True)
            else:
                try:
                    yield batches
                finally:
                    client.stats.add(stats)
                return
    if not getattr(client, "can_fork", False):
        pages = batched(client.iter_user_pages(expand=expand), size=size, expected=expected)
        with closing(prefetch(pages, depth=depth, foreground=foreground)) as batches:
            yield batches
        return
    fork = client.fork()
    try:
        pages = batched(fork.iter_user_pages(expand=expand), size=size, expected=expected)
        with prefetching(pages, depth=depth, foreground=foreground) as batches:
            yield batches
    finally:
        client.stats.add(fork.stats)
        fork.close()
