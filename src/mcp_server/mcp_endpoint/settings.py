"""The function's settings: every environment variable it reads, read and checked in one place.

``Settings.from_environ`` is the only code that reads the environment; tests build ``Settings``
directly. A value that cannot be right stops the function at INIT with one line naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

# The variables template.yaml sets for this function.
VARIABLES = ("MCP_RESOURCE_URL", "ISSUER", "MCP_SCOPES")

# An absolute http(s) URL without query or fragment: RFC 9728 section 1.2 and RFC 8707 section 2
# want a resource identifier without a fragment (and advise against a query). http:// is for the
# local loop, which has no TLS.
_RESOURCE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?")


class SettingError(ValueError):
    """A setting that cannot be right; the message names it, in one line."""


class Settings(NamedTuple):
    """The configuration, validated. Each field's comment names its variable."""

    # MCP_RESOURCE_URL: the MCP endpoint's public URL; "" derives https://{domainName}/mcp from
    # each request (right for the API's own domain; set it behind a custom domain mapping).
    resource_url: str = ""
    # ISSUER: comma-separated, as the authorizer reads it; the authorization servers advertised.
    issuers: tuple[str, ...] = ()
    # MCP_SCOPES: space- or comma-separated; the scopes advertised (none: an empty list, "ask for none").
    scopes: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """The settings in ``environ`` (``os.environ`` in Lambda), or ``SettingError``."""
        return cls.parse({name: environ[name] for name in VARIABLES if name in environ})

    @classmethod
    def parse(cls, values: Mapping[str, str]) -> Settings:
        """Settings from variable name -> text, absent or blank meaning the default."""
        resource_url = (values.get("MCP_RESOURCE_URL") or "").strip()
        if resource_url and not _RESOURCE_URL.fullmatch(resource_url):
            raise SettingError("MCP_RESOURCE_URL must be an http(s) URL without query or fragment, or empty")
        return cls(
            resource_url=resource_url,
            issuers=split(values.get("ISSUER") or "", ","),
            scopes=split(values.get("MCP_SCOPES") or "", r"[\s,]"),
        )


def split(text: str, separators: str) -> tuple[str, ...]:
    """The non-empty entries of ``text`` between ``separators`` (a character class), in order."""
    return tuple(entry.strip() for entry in re.split(f"{separators}+", text) if entry.strip())
