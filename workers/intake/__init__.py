"""What ingest calls, and all it calls: record posted codes (codes.py) and security events (security.py) in the
outbox, read a status and readiness (queries.py), and the rate limits that keep a flood out (limits.py).
Loads neither Pillow, Google's libraries nor the actors.
"""
