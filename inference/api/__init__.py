"""HTTP API of the inference app: enrichment batches and task inference."""
