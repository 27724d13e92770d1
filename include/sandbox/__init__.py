"""Local stand-ins for recon's external peers (Stripe, the export SFTP host, Slack and PagerDuty).

Used by the demo and the tests only; production code must never import this package. Each module is
imported on its own so that, for example, the generator works without asyncssh installed.
"""
