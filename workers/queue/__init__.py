"""The broker room: dramatiq setup and middleware, the actor table, the one enqueue API, dead letters, queue
depths, and the locks that coordinate processes through Redis.

The only package that knows dramatiq's Redis keys. It imports no use case: they reach it by actor name.
"""
