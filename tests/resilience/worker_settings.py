"""Settings of the worker processes the crash tests start and kill with SIGKILL.

The test settings, with ``TASK_TIMEOUT`` (the run leases' duration and the age after which an
``executing`` enforcement claim counts as abandoned) cut to a few seconds: a restart after a
crash waits for the dead worker's lease to expire, and the tests should not wait 30 minutes.
The environment helper refuses values under 60 s, hence a settings module rather than a variable.
"""

import os

from governance.settings_test import *  # noqa: F403

TASK_TIMEOUT = int(os.environ.get("RESILIENCE_TASK_TIMEOUT", "3"))
