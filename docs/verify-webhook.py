# Verifies a Switchboard event delivery (Standard Webhooks signatures). Python 3.9+.
import base64, hashlib, hmac, time


def verify(secret: str, headers: dict, body: bytes, tolerance: int = 300) -> bool:
    """secret: the subscription's whsec_… secret; headers: the request's, lower-case names;
    body: the raw request body, as received (before any JSON parsing)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    event_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False  # too old (or from the future): a replay
    signed = f"{event_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, signature[3:])
        for signature in headers["webhook-signature"].split()
        if signature.startswith("v1,")
    )
