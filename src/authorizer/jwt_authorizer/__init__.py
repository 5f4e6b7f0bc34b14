"""The Lambda authorizer's code: one module per job, one direction of flow.

``app.py`` (the handler, next to this package) builds an ``authorizer.Authorizer`` from
``settings.Settings`` once per container. A request then goes down, never back up:

- ``adapters``: which event shape this is (HTTP API 2.0, REST 1.0 TOKEN or REQUEST), where its
  token and route are, and how its answer is written (the REST IAM policy lives there);
- ``verifier``: is the token authentic (JOSE wire format in ``jose``, keys from ``keys`` or
  ``secret``, signature schemes from the ``algorithms`` table)?
- ``policy``: may this token use this route (scopes, required claims)?
- ``reasons``: every answer's reason, one enumeration.
"""
