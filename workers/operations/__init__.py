"""The operations room: the sweeper, batch reprocessing and the status report, what operators run and read.
Imports no Pillow; it reaches the workers only through messages."""
