"""The consumer side: queue, worker, batching, sending, settling and reports."""
