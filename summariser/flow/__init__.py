"""The flow of a run: papers to rows in order, the cache, worker processes, output files, progress."""
