"""HTTP, grouped by published document: ``zoo`` (the Model Zoo API, ``/api/system/``),
``management`` (the Model Management API, ``/api/models/``) and ``enrichment``
(``/api/enrichment/``). ``urls`` is the one URL table; ``base`` holds what every view
shares (the error envelope and the strict query-parameter check)."""
