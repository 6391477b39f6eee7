// Node's standard library only: a parse error gets 400, but payload.event is read outside any try, so a body of
// `null` throws in the request handler and, with no uncaughtException handler, kills the process.
"use strict";
const http = require("http");
const crypto = require("crypto");

const SECRET = Buffer.from(process.env.WEBHOOK_SECRET || "", "utf8");
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
    payload = JSON.parse(body.toString("utf8"));
  } catch {
    return answer(res, 400, "Bad Request");
  }
  const event = payload.event; // TypeError for `null`: nothing catches it
  if (typeof event !== "string" || !isObject(payload.data)) {
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
