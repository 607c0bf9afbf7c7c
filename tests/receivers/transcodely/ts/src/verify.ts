// ---- as published by Transcodely (Signature Verification, TypeScript) ----
import { createHmac, timingSafeEqual } from "crypto";

const WEBHOOK_SECRET = "whsec_your_signing_secret";

function verifyWebhook(body: string, signature: string, timestamp: string): boolean {
  // Check timestamp freshness (5-minute window)
  const age = Math.abs(Date.now() / 1000 - parseInt(timestamp, 10));
  if (age > 300) return false;

  // Compute expected signature
  const signedPayload = `${timestamp}.${body}`;
  const expected = createHmac("sha256", WEBHOOK_SECRET)
    .update(signedPayload)
    .digest("hex");
  const expectedSig = `sha256=${expected}`;

  // Constant-time comparison
  return timingSafeEqual(Buffer.from(expectedSig), Buffer.from(signature));
}
// ---- end of published code ----

export { verifyWebhook };
