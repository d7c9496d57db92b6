"""Prompt versions and answers: loading and hashing versions, rendering requests, validating answers, choosing examples."""
