"""The HTTP edge: Plum-compatible web services (``plum``), the JSON API (``v1``) and
the operational endpoints (``/healthz``, ``/metrics``)."""
