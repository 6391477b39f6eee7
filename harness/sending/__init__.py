"""Sending: the client that talks to one target, the embedded receiver, and the load drill."""
