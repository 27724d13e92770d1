"""Alerts: built from the result tables into an outbox, then sent through provider hooks."""
