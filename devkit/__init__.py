"""The project's development library: the local loop, the deploy tools, the bench, the docs tables.

Installed (editable) by ``make install``; nothing here is deployed. Its parts:

- ``devkit.local``: ``make local``, an API Gateway built from template.yaml, with a dev issuer;
- ``devkit.deploy``: ``make deploy``/``delete``/``smoke``/``build``/``invoke-*`` and the preflight;
- ``devkit.bench``: ``make bench``;
- ``devkit.docs``: ``make docs``, the tables in docs/ that are generated from the code.
"""

# The dev issuer's audience, and make token's default: the example API Identifier of the docs.
DEFAULT_AUDIENCE = "https://api.example.com"
