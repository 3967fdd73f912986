"""The ASGI app: routes, payload models, request checks. Of workers it imports workers.intake only (and the
error tree, logs and metrics, which every room uses); tests/test_architecture.py holds it to that."""
