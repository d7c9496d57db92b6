"""Talking to an endpoint: one request in, a completion out, with retries; re-asking after an invalid answer."""
