"""The broker room: dramatiq setup and middleware (broker.py, middleware.py), the actor table (table.py), the one
enqueue API (messages.py, and batched.py for many at once), dead letters (deadletters.py), and the state that
processes share through Redis: locks (locks.py) and Google's quota (governor.py), on one client (connection.py).

The only package that knows dramatiq's Redis keys. It imports no use case: they reach it by actor name.
"""
