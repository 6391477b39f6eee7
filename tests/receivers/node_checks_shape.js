// Correct twin of node_dies_on_null: Node's standard library only, and the payload is checked to be a non-null,
// non-array object with a string event and an object data before anything reads it (400 otherwise).
"use strict";
const http = require("http");
const crypto = require("crypto");

const SECRET = Buffer.from(process.env.WEBHOOK_SECRET || "", "utf8");
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
const MAX_BODY = 64 * 1024;

function answer(res, status, text, headers = {}) {
  res.writeHead(status, { "Content-Type": "text/plain", ...headers });
  res.end(text);
}

function secretOk(req) {
  const received = Buffer.from(req.headers["x-webhook-secret"] || "", "latin1");
  return received.length === SECRET.length && crypto.timingSafeEqual(received, SECRET);
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function handle(req, res, body) {
  if (!secretOk(req)) return answer(res, 401, "Unauthorized");
  let payload;
  try {
    payload = JSON.parse(STRICT_UTF8.decode(body)); // invalid UTF-8 throws: a 400, not U+FFFD
  } catch {
    return answer(res, 400, "Bad Request");
  }
  if (!isObject(payload) || typeof payload.event !== "string" || !isObject(payload.data)) {
    return answer(res, 400, "Bad Request");
  }
  answer(res, 200, "OK");
}

http
  .createServer((req, res) => {
    if (req.url.split("?")[0] !== "/webhook") return answer(res, 404, "Not Found");
    if (req.method !== "POST") return answer(res, 405, "Method Not Allowed", { Allow: "POST" });
    const type = (req.headers["content-type"] || "").split(";")[0].trim().toLowerCase();
    if (type !== "application/json") return answer(res, 415, "Unsupported Media Type");
    if (Number(req.headers["content-length"] || 0) > MAX_BODY) {
      return answer(res, 413, "Payload Too Large", { Connection: "close" });
    }
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
      else if (!res.headersSent) answer(res, 413, "Payload Too Large", { Connection: "close" });
    });
    req.on("end", () => res.headersSent || handle(req, res, Buffer.concat(chunks)));
  })
  .listen(Number(process.argv[2]), "127.0.0.1");
