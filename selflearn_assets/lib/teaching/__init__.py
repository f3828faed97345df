"""Teachable AI from the logs (Ping et al. 2020): where teaching would help, what customers taught, and what the
platform knows each customer taught. Plain Python, no Dagster:

- `moments`: teachable moments (rules over the contract's fields) and the teaching exchanges that happened;
- `extract`: (key, value) of a teaching turn, by a rule baseline and by a span model over the logs' evidence;
- `reconcile`: the runtime's log of teachings and the mined ones, as one history per user and key.
"""
