"""Corrections: proposing (and, later, applying) changes to the system that is not the source of truth."""
