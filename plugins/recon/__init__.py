"""recon: reconcile what different systems say happened, and say where they disagree."""

__version__ = "0.1.0"
