import type { KeyObject } from "node:crypto";
import { type JWTPayload, SignJWT } from "jose";
import type { SigningAlgorithm } from "../model.js";

/** The protected header of a registry token (protocol.md §3). */
export interface RegistryTokenHeader {
  readonly typ: "JWT";
  readonly alg: SigningAlgorithm;
  readonly kid?: string;
  readonly x5c?: readonly string[];
}

/**
 * Signs a compact JWS with exactly the given header and payload. The one place
 * that signs, so the JOSE implementation can be swapped (jose today; ECDSA
 * signatures come out as JOSE raw r||s).
 */
export async function signJwt(
  header: RegistryTokenHeader,
  payload: Readonly<Record<string, unknown>>,
  privateKey: KeyObject,
): Promise<string> {
  const { x5c, ...rest } = header;
  return new SignJWT(payload as JWTPayload)
    .setProtectedHeader(x5c === undefined ? rest : { ...rest, x5c: [...x5c] })
    .sign(privateKey);
}
