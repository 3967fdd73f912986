"""What ingest calls, and all it calls in workers beside the error tree, logs and metrics: record posted codes
(codes.py) and security events (security.py) in the outbox, read a status and readiness (queries.py), the rate
limits that keep a flood out (limits.py), and the web process's start (process.py). Re-exports the words a post
and a status are made of. Loads neither Pillow, Google's libraries nor the actors.
"""

from workers.context import Context
from workers.store.states import Platform, SourceKind, SubmissionStatus

__all__ = ["Context", "Platform", "SourceKind", "SubmissionStatus"]
