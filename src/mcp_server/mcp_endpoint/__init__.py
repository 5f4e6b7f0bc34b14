"""The MCP server function's code: pure request handling here, the MCP SDK only in ``sdk.py``.

``app.py`` (the Lambda handler, beside this package) builds one ``Endpoint`` per container.
Nothing in this package imports the MCP SDK at import time: ``endpoint.py`` loads ``sdk.py``
on the first ``POST /mcp``, so the public metadata route never pays for it.
"""
