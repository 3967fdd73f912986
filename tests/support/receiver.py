"""The webhook receiver the tests point darkroom at: the demo's own (workers/cli/receiver.py)."""

from workers.cli.receiver import SECRET, Receiver, receiving

__all__ = ["SECRET", "Receiver", "receiving"]
