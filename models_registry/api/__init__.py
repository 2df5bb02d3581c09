"""HTTP API of the registry: the Model Zoo API and the Model Management API."""
