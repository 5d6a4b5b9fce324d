"""The suite's one clock: every fixture world is placed relative to the moment the run started.

The simulator's organization, policy run times and the code under test all read (or are given)
times on one timeline, so the suite passes on any date, including under ``faketime`` (``make
test-timeless``): subprocesses (clusters, gunicorn, the simulator as a process) read the same real
clock as the code in this process. Seconds only, so values survive a round trip through
Atlassian's millisecond timestamps and SQLite unchanged.
"""

from datetime import UTC, datetime

SUITE_NOW = datetime.now(UTC).replace(microsecond=0)
