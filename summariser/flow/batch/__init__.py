"""Batch-API runs (`summariser batch`): a dump's uncached requests written as Batch-API request
files (prepare.py), uploaded and submitted once each (submit.py), their state kept in the cache
folder (state.py), and the answers taken back into the cache, validated as `run` validates them
(collect.py). The JSONL lines and the files' settings are pydantic models (models.py)."""
