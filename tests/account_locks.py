"""Other workers holding, or probing, an account's change lock (accounts/services/account_lock.py):
threads with their own database connection."""

import threading

from django.db import connection

from accounts.services.account_lock import AccountBusy, one_change_at_a_time


class Holder:
    """Another worker holding an account's change lock until told to let go."""

    def __init__(self, account_pk: int):
        self.account_pk = account_pk
        self.taken, self.let_go = threading.Event(), threading.Event()
        self.log: list[str] = []
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        try:
            with one_change_at_a_time(self.account_pk):
                self.taken.set()
                self.let_go.wait(30)
                self.log.append("released")
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        assert self.taken.wait(30)
        return self

    def __exit__(self, *exc):
        self.let_go.set()
        self.thread.join(30)


def taken_elsewhere(account_pk: int) -> bool:
    """Whether another worker (a thread with its own connection) finds the account's lock taken."""
    found: list[bool] = []

    def probe():
        try:
            with one_change_at_a_time(account_pk, wait=0):
                found.append(False)
        except AccountBusy:
            found.append(True)
        finally:
            connection.close()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(30)
    return found == [True]
