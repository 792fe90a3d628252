import type { AccessEntry } from "@regauth/core";
import type { RegistryTokenClaims } from "../model.js";
import { tokenInvalid } from "./token-invalid.js";

type Json = Readonly<Record<string, unknown>>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === "string");

function optionalSeconds(payload: Json, name: string): number | undefined {
  const value = payload[name];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw tokenInvalid(`${name} claim is not an integer number of seconds`);
  }
  return value;
}

function readAccess(value: unknown): AccessEntry[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw tokenInvalid("malformed access claim: not an array");
  return value.map((entry) => {
    if (
      !isObject(entry) ||
      typeof entry.type !== "string" ||
      typeof entry.name !== "string" ||
      !isStringArray(entry.actions ?? []) ||
      (entry.class !== undefined && typeof entry.class !== "string")
    ) {
      throw tokenInvalid("malformed access claim: expected {type, name, actions} entries");
    }
    const actions = [...((entry.actions ?? []) as string[])];
    return typeof entry.class === "string"
      ? { type: entry.type, class: entry.class, name: entry.name, actions }
      : { type: entry.type, name: entry.name, actions };
  });
}

/**
 * Reads the claims of a verified payload with the types registry 2.8 decodes
 * them into (a wrong type makes the token malformed there). Checks types only;
 * values are compared by the caller.
 *
 * @throws RegauthError `ERR_TOKEN_INVALID` naming the claim.
 */
export function readClaims(payloadBytes: Uint8Array): RegistryTokenClaims {
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payloadBytes));
  } catch {
    throw tokenInvalid("malformed payload: not JSON");
  }
  if (!isObject(payload)) throw tokenInvalid("malformed payload: not a JSON object");

  const { iss, sub, aud, jti } = payload;
  if (iss === undefined) throw tokenInvalid("iss claim missing");
  if (typeof iss !== "string") throw tokenInvalid("iss claim is not a string");
  if (sub !== undefined && typeof sub !== "string") throw tokenInvalid("sub claim is not a string");
  if (aud === undefined) throw tokenInvalid("aud claim missing");
  if (typeof aud !== "string" && !isStringArray(aud)) {
    throw tokenInvalid("aud claim is not a string");
  }
  if (jti !== undefined && typeof jti !== "string") throw tokenInvalid("jti claim is not a string");
  const exp = optionalSeconds(payload, "exp");
  if (exp === undefined) throw tokenInvalid("exp claim missing");
  const nbf = optionalSeconds(payload, "nbf");
  const iat = optionalSeconds(payload, "iat");

  return {
    iss,
    sub: sub ?? "",
    aud,
    exp,
    ...(nbf === undefined ? {} : { nbf }),
    ...(iat === undefined ? {} : { iat }),
    ...(jti === undefined ? {} : { jti }),
    access: readAccess(payload.access),
  };
}
