"""Pure contest logic.

No I/O, no clock, no randomness; imports only the standard library, eventsourcing and attrs.
"""
