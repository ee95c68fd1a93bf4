"""Workflow runs in worker processes, off the session's event loop.

A run's node code never runs on the node's own loop: a regular expression that
backtracks, a template that loops, a node that computes for minutes would
otherwise stop heartbeats, other callers and cancel alike. :class:`WorkerPool`
sends each run to a worker process, streams its events back, and kills and
replaces a worker whose run overstays ``engine.max_run_time`` or a cancel.
"""

from ._pool import WorkerPool

__all__ = ["WorkerPool"]
