"""The producer side: what user code calls to record observations, traces and scores."""
