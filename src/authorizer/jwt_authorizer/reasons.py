"""Every reason a decision can give: one enumeration, read by the code, the docs and the metrics.

Each member's value is what the decision line logs as ``reason`` (so a member never changes its
value); its description is the row ``docs/observability.md`` shows, which a test compares with
this file. Members are grouped by the step that gives them, in the order the steps run.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    OK = "ok"
    # the event and its Authorization value
    UNSUPPORTED_EVENT = "unsupported_event"
    MISSING_TOKEN = "missing_token"  # noqa: S105 - a reason code, not a password
    UNSUPPORTED_SCHEME = "unsupported_scheme"
    MALFORMED = "malformed"
    # the JOSE header
    BAD_ALGORITHM = "bad_algorithm"
    UNSUPPORTED_CRIT = "unsupported_crit"
    UNSUPPORTED_B64 = "unsupported_b64"
    MISSING_KID = "missing_kid"
    # keys and the signature
    UNKNOWN_ISSUER = "unknown_issuer"
    KEYS_UNAVAILABLE = "keys_unavailable"
    KEYS_STALE = "keys_stale"
    KEY_UNAVAILABLE = "key_unavailable"
    UNKNOWN_KID = "unknown_kid"
    KEY_ALG_MISMATCH = "key_alg_mismatch"
    BAD_SIGNATURE = "bad_signature"
    # claims
    BAD_ISSUER = "bad_issuer"
    MISSING_EXP = "missing_exp"
    BAD_EXP = "bad_exp"
    EXPIRED = "expired"
    BAD_NBF = "bad_nbf"
    NOT_YET_VALID = "not_yet_valid"
    BAD_IAT = "bad_iat"
    ISSUED_IN_FUTURE = "issued_in_future"
    BAD_AUDIENCE = "bad_audience"
    # the route's rules
    MISSING_CLAIM = "missing_claim"
    CLAIM_MISMATCH = "claim_mismatch"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    BAD_METHOD_ARN = "bad_method_arn"
    # neither the token nor the rules
    INTERNAL_ERROR = "internal_error"


DESCRIPTIONS: dict[Reason, str] = {
    Reason.OK: "allowed",
    Reason.UNSUPPORTED_EVENT: "the event is none of the shapes answered (HTTP API 2.0, REST 1.0 TOKEN or REQUEST)",
    Reason.MISSING_TOKEN: "no token in the Authorization value",
    Reason.UNSUPPORTED_SCHEME: "a scheme other than `Bearer` (`Basic ...`)",
    Reason.MALFORMED: "not three canonical base64url segments of I-JSON objects, or over 8 KiB",
    Reason.BAD_ALGORITHM: "`alg` not in the allowed algorithms",
    Reason.UNSUPPORTED_CRIT: "a `crit` header (extensions are not understood)",
    Reason.UNSUPPORTED_B64: "`b64` other than true (an unencoded payload)",
    Reason.MISSING_KID: "no `kid` in the header",
    Reason.UNKNOWN_ISSUER: "several issuers configured, and the token names none of them",
    Reason.KEYS_UNAVAILABLE: "the issuer's keys could not be fetched yet (see the `jwks refresh failed` line)",
    Reason.KEYS_STALE: "key refreshes have failed for longer than `JWKS_MAX_STALE_SECONDS`",
    Reason.KEY_UNAVAILABLE: "HS256 mode: the shared secret could not be read",
    Reason.UNKNOWN_KID: "no usable key with that `kid` in the issuer's key set",
    Reason.KEY_ALG_MISMATCH: "the key's JWK names another `alg`, or the key is of another type",
    Reason.BAD_SIGNATURE: "the signature does not verify",
    Reason.BAD_ISSUER: "`iss` is not the issuer",
    Reason.MISSING_EXP: "no numeric `exp`",
    Reason.BAD_EXP: "`exp` not a date from 1970 to 9999",
    Reason.EXPIRED: "`exp` has passed",
    Reason.BAD_NBF: "`nbf` not a date from 1970 to 9999",
    Reason.NOT_YET_VALID: "`nbf` is in the future",
    Reason.BAD_IAT: "`iat` not a date from 1970 to 9999",
    Reason.ISSUED_IN_FUTURE: "`iat` is in the future",
    Reason.BAD_AUDIENCE: "`aud` (or `client_id` without `aud`) holds no configured audience",
    Reason.MISSING_CLAIM: "a `RequiredClaims` claim is absent",
    Reason.CLAIM_MISMATCH: "a `RequiredClaims` claim holds no accepted value",
    Reason.INSUFFICIENT_SCOPE: "valid token, the route's scopes not met",
    Reason.BAD_METHOD_ARN: "REST event whose `methodArn` names no single method and path",
    Reason.INTERNAL_ERROR: "a bug or an outage; the line adds `error` (the exception's class)",
}


def reasons_table() -> str:
    """The Markdown table of ``docs/observability.md``: every reason and what it means."""
    rows = [f"| `{reason.value}` | {DESCRIPTIONS[reason]} |" for reason in Reason]
    return "\n".join(["| `reason` | Meaning |", "|---|---|", *rows])
