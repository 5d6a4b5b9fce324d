"""Self-service access restoration: the public ``/access/`` pages, access requests, their decision
(automatic or by the help desk) and their fulfilment through the accounts services."""
