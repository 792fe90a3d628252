import type { ServerResponse } from "node:http";
import type { ExpressRequestLike } from "../express/to-express-middleware.js";
import { bodyConsumed, rebuiltBody, requestUrl, toWebRequest } from "./node-bridge.js";

/**
 * The Web `Request` for an Express request, at the URL the client used
 * (`protocol`, `host`, `originalUrl`: `trust proxy` honoured, mount path
 * kept). With `withBody`, a method that has a body gets it streamed, or
 * rebuilt from `req.body` when a body parser consumed it; without, no body
 * (for checks that read only headers).
 */
export function expressWebRequest(
  req: ExpressRequestLike,
  res: ServerResponse,
  withBody: boolean,
): Request {
  const origin = req.host ? `${req.protocol}://${req.host}` : undefined;
  const url = requestUrl(origin, req.originalUrl, "http://localhost");
  if (!withBody) return toWebRequest(req, res, url, { kind: "rebuilt", body: undefined });
  if (!bodyConsumed(req)) return toWebRequest(req, res, url, { kind: "stream" });
  const body = rebuiltBody(req.headers["content-type"], req.body, undefined);
  return toWebRequest(req, res, url, { kind: "rebuilt", body });
}
