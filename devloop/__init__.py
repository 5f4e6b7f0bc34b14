"""The local loop: dev issuer, local gateway and token client."""

DEFAULT_AUDIENCE = "https://api.example.com"
