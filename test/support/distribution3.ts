import { type RunningRegistry, startRegistry } from "./registry.js";

/** Which registry generation to run and how it trusts the token signer. */
export type RegistryFlavor =
  | { readonly kind: "2.8" | "3.x"; readonly rootCertBundlePath: string }
  | { readonly kind: "3.x"; readonly jwksPath: string };

/** Options of {@link startAnyRegistry}. */
export interface AnyRegistryOptions {
  /** A fresh directory for the config and the storage; the caller removes it. */
  readonly dir: string;
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly flavor: RegistryFlavor;
}

/**
 * Starts the registry a {@link RegistryFlavor} names, with deletes enabled:
 * {@link startRegistry} with the flavor's generation and trust.
 *
 * @throws Error when it exits or does not answer in 20 s, with its log.
 */
export function startAnyRegistry(options: AnyRegistryOptions): Promise<RunningRegistry> {
  const { flavor, ...rest } = options;
  return startRegistry({
    ...rest,
    generation: flavor.kind,
    deleteEnabled: true,
    ...("jwksPath" in flavor
      ? { jwksPath: flavor.jwksPath }
      : { rootCertBundlePath: flavor.rootCertBundlePath }),
  });
}
