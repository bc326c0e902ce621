"""Requests in the database, one module per concept.

    store.py       RequestStore: create, read, list; holds the parts below
    decisions.py   every status move (approve, reject, cancel, extend, expire, retry, ...)
    steps.py       step leases: claim, renew, done, wait, fail, manual Done
    residuals.py   the residual-check queue
    reminders.py   deadline reminders and daily digests sent (once each)
    ids.py         REQ-<year>-<nnnn> allocation
    base.py        the shared compare-and-set-and-log step; rows.py, rows to values

A change that is audited takes its event and appends it in the same transaction.
"""

from bot.workflow.store.decisions import Decision
from bot.workflow.store.store import RequestStore

__all__ = ["Decision", "RequestStore"]
