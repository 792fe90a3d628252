import type { RegistryTokenIssuer } from "@regauth/token";
import type { RegauthConfig } from "./load-config.js";

/**
 * What to configure in the registry for a config (distribution's
 * `auth.token` section).
 *
 * - `realm`, `service`, `issuer`, `rootCertBundle`: the values.
 * - `yaml`: the `auth.token` block for distribution 2.8 (and 3.x with the
 *   certificate bundle).
 * - `jwks`: for distribution 3.x, the JWKS file to write and name in
 *   `auth.token.jwks`; it holds the signing key with the `kid` the tokens carry.
 */
export interface RegistryTokenConfig {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly rootCertBundle: string;
  readonly yaml: string;
  readonly jwks: { readonly keys: readonly unknown[] };
}

/**
 * The registry side of a config: the `auth.token` block and the JWKS.
 *
 * The realm is built from `server.addr` (an address that binds every
 * interface becomes `localhost`: replace it with the name the registry's
 * clients reach this server by) unless `realm` is given; the service is the
 * first of `token.services`, else the placeholder `REGISTRY-SERVICE-NAME`.
 *
 * @example
 * const { yaml } = registryTokenConfig(config, built.issuer);
 * console.log(yaml); // auth:\n  token:\n    realm: https://...
 */
export function registryTokenConfig(
  config: RegauthConfig,
  issuer: RegistryTokenIssuer,
  realm?: string,
): RegistryTokenConfig {
  const tls = config.server.certificate !== undefined;
  const host = config.server.host ?? "localhost";
  const hostForUrl = host.includes(":") ? `[${host}]` : host;
  const url =
    realm ??
    `${tls ? "https" : "http"}://${hostForUrl}:${config.server.port}${config.server.pathPrefix}/auth`;
  const service = config.token.services?.[0] ?? "REGISTRY-SERVICE-NAME";
  const quote = (value: string) => JSON.stringify(value);
  const yaml = [
    "auth:",
    "  token:",
    `    realm: ${quote(url)}`,
    `    service: ${quote(service)}`,
    `    issuer: ${quote(config.token.issuer)}`,
    `    rootcertbundle: ${quote(config.token.certificate)}`,
  ].join("\n");
  return {
    realm: url,
    service,
    issuer: config.token.issuer,
    rootCertBundle: config.token.certificate,
    yaml,
    jwks: { keys: [issuer.publicJwk] },
  };
}
