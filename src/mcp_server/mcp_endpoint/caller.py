"""Who is calling: what the Lambda authorizer put in ``requestContext.authorizer.lambda``.

The authorizer verified the token and passed on the caller's subject, client id and scopes (and
Auth0 RBAC permissions when it reads them); API Gateway hands that context to this function.
The token itself is never read here: what it says was already judged, by the authorizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Caller:
    sub: str
    client_id: str
    scopes: tuple[str, ...]
    permissions: tuple[str, ...] | None = None  # None: the authorizer does not pass them on

    @classmethod
    def from_request_context(cls, request_context: dict[str, Any]) -> Caller | None:
        """The caller the Lambda authorizer vouched for, or None when no authorizer ran.

        None means the route was deployed without the Lambda authorizer (or behind another
        one): nobody checked a token, so the request is refused, never served as someone.
        """
        authorizer = request_context.get("authorizer")
        context = authorizer.get("lambda") if isinstance(authorizer, dict) else None
        if not isinstance(context, dict):
            return None
        permissions = context.get("permissions")
        return cls(
            sub=_text(context.get("sub")),
            client_id=_text(context.get("clientId")),
            scopes=tuple(_text(context.get("scope")).split()),
            permissions=tuple(permissions.split()) if isinstance(permissions, str) else None,
        )

    def as_json(self) -> dict[str, Any]:
        """What ``whoami`` answers (its output schema is ``WHOAMI_OUTPUT_SCHEMA``)."""
        answer: dict[str, Any] = {"sub": self.sub, "clientId": self.client_id, "scopes": list(self.scopes)}
        if self.permissions is not None:
            answer["permissions"] = list(self.permissions)
        return answer


_STRINGS = {"type": "array", "items": {"type": "string"}}
WHOAMI_OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sub": {"type": "string"},
        "clientId": {"type": "string"},
        "scopes": _STRINGS,
        "permissions": _STRINGS,
    },
    "required": ["sub", "clientId", "scopes"],
    "additionalProperties": False,
}


def _text(value: object) -> str:
    # API Gateway passes context values on as the authorizer returned them: ours are strings.
    return value if isinstance(value, str) else ""
