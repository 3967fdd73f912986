"""Helpers the tests share: real processes (processes.py), darkroom embedded in the test process (embedded.py),
a client of the emulator as an app or a user would be (google.py), and use cases on dramatiq's StubBroker
(stub.py). Test modules import from here, never from each other."""
