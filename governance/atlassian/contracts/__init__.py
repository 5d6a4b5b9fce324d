"""Contract files: the parts of Atlassian's published OpenAPI documents that the portal relies on.

The ``*.json`` files here are derived by :mod:`.derive` and committed, so that the simulator's
conformance tests run in any clone; ``make contracts`` refreshes them.
"""

from pathlib import Path

CONTRACTS_DIR = Path(__file__).resolve().parent
