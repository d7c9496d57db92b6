"""The eval harness: gold sets, metrics, baselines, comparisons and reports."""
