"""Postgres staging: COPY, one transaction per source and window, quarantine of bad rows."""
