"""Retention batches: a sweep's people, approved once, each then erased as its own request.

    model.py     the values: Batch, its status, a member and where it stands
    service.py   propose (from a sweep), drop, approve, reject, pause, resume, retry, expire
    running.py   the driver: each member's erasure created and run, within the limit
    schedule.py  the worker's scheduled sweeps (retention.schedule)

The database side is `bot/workflow/store/batches.py`.
"""
