"""The ASGI app: routes, payload models, request checks. Imports settings and the enqueue API only."""
