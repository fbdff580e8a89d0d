// Verifies a Switchboard event delivery (Standard Webhooks signatures). Node.js 16+.
const crypto = require("crypto");

// secret: the subscription's whsec_… secret; headers: the request's, lower-case names;
// body: the raw request body as a Buffer, as received (before any JSON parsing).
function verify(secret, headers, body, tolerance = 300) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > tolerance) return false; // a replay
  const expected = crypto
    .createHmac("sha256", key)
    .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`), body]))
    .digest();
  return headers["webhook-signature"].split(" ").some((signature) => {
    if (!signature.startsWith("v1,")) return false;
    const given = Buffer.from(signature.slice(3), "base64");
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  });
}

module.exports = { verify };
