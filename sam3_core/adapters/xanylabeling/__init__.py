"""X-AnyLabeling's remote-server protocol (``/v1/models``, ``/v1/predict``) over the main API."""
