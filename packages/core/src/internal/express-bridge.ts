import type { ServerResponse } from "node:http";
import type { ExpressRequestLike } from "../express/to-express-middleware.js";
import {
  type BodySource,
  bodyConsumed,
  rebuiltBody,
  requestUrl,
  toWebRequest,
} from "./node-bridge.js";

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
  const body: BodySource = withBody ? expressBody(req) : { kind: "rebuilt", body: undefined };
  return toWebRequest(req, res, url, body);
}

/**
 * Where an Express request's body comes from: the socket, or, when a body
 * parser mounted earlier consumed it, `req.body` rebuilt.
 */
export function expressBody(req: ExpressRequestLike): BodySource {
  if (!bodyConsumed(req)) return { kind: "stream" };
  return { kind: "rebuilt", body: rebuiltBody(req.headers["content-type"], req.body, undefined) };
}
