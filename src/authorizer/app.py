"""The Lambda authorizer's handler: HTTP API (payload 2.0, simple responses), REST APIs too.

It applies the same rules as API Gateway's built-in JWT authorizer, so ``/test`` (built-in) and
``/lambda/test`` (this function) accept and reject the same tokens, plus what only a Lambda
authorizer can do (several issuers, scopes from other claims, required claims, per-route
scopes). The settings, every environment variable and what it means, are in
``jwt_authorizer/settings.py``; the flow of one request in ``jwt_authorizer/authorizer.py``.

Built once per container (INIT): a setting that cannot be right stops it here, with one line.
"""

from __future__ import annotations

import os
from typing import Any

from jwt_authorizer.authorizer import Authorizer
from jwt_authorizer.settings import Settings

AUTHORIZER = Authorizer(Settings.from_environ(os.environ))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return AUTHORIZER.handle(event)
