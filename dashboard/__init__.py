"""The operator's page at ``/``: what is loaded where, the task selections, latency
charts and the decision log, with staff controls as plain forms."""
