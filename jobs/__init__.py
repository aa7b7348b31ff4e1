"""RQ entry points and the clock. Thin: each builds the app and calls a service."""
