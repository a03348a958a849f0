"""Other tools' protocols over the same segmentation service.

Each adapter translates its tool's request into the main API's request, runs it through the same handler (and so
the same batching, caches, limits, cancel, metrics and log line: ``HandlerHost.call``), and translates the answer
back. An adapter holds no model code and no second copy of a validator, encoder or limit: it builds main-API
payloads and reads main-API answers. Each one's ``routes`` module gives ``sam3-serve`` its routes
(``create_app(extra_routes=...)``); docs/API.md's "Other tools" table says what each one does and how it was
tested.

- ``labelstudio``: Label Studio's ML backend, under ``/labelstudio``.
"""
