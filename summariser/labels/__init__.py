"""Deciding labels: confidence from token log-probabilities, votes from neighbours or a classifier."""
