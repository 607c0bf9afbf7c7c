// Transcodely's published TypeScript verification (verify.ts), served the
// way its Express example does: raw body, 401 "Invalid signature" or 200 "OK".
import { createServer } from "http";
import { AddressInfo } from "net";
import { verifyWebhook } from "./verify";

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString();
    const signature = (req.headers["x-transcodely-signature"] as string) ?? "";
    const timestamp = (req.headers["x-transcodely-timestamp"] as string) ?? "";
    let ok = false;
    try {
      ok = verifyWebhook(body, signature, timestamp);
    } catch {
      ok = false; // timingSafeEqual throws on a length mismatch: a rejection
    }
    console.log(JSON.stringify({ ok, headers: req.headers, body }));
    res.statusCode = ok ? 200 : 401;
    res.end(ok ? "OK" : "Invalid signature");
  });
});

server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`);
});
