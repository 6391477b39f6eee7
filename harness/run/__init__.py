"""The run: the engine that plans, sends, judges and concludes a conformance run, pytest-free."""
