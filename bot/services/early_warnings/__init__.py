"""The anti-fraud centre's early warnings (预警, issue #20): a resident is probably talking to a
scammer right now. Warnings come in (``fanzha warnings import``, the console), a dispatcher phones
the resident through Twilio, the voice channel carries the call, every attempt is audited, and
each warning ends with an outcome.

- schema.py: the tables (migration 7 of bot/services/reports/schema.py creates them)
- store.py: WarningStore, the one way to read and change them
- warning_csv.py: checking a warning (a CSV line or a console form) and the CSV files
- cli.py: ``fanzha warnings …``
"""
