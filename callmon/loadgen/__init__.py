"""Synthetic load from the real Asterisk captures: a city-sized day of 110 calls.

Why: the bundled captures hold 16 real calls; sizing, soak and backfill tests need
thousands, with the same byte-level shape Asterisk sends.  Generation is pure (no
sockets); ``scripts/loadgen.py`` writes and serves the result.
"""
