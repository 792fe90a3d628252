import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { AuthnRequest, AuthzRequest, Logger } from "@regauth/core";
import { ensureDevConfig } from "../src/ensure-dev-config.js";

/** The test programs. */
export const EXT_AUTH = resolve(fileURLToPath(new URL("./fixtures/ext-auth.sh", import.meta.url)));
export const EXT_AUTHZ = resolve(
  fileURLToPath(new URL("./fixtures/ext-authz.sh", import.meta.url)),
);

/** A logger that keeps every line, for assertions. */
export function memoryLogger(): Logger & {
  lines: Array<{ level: string; fields: Record<string, unknown>; message: string }>;
} {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => {
    lines.push({ level, fields, message });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

export const authn = (account: string, password = "pw"): AuthnRequest => ({
  account,
  password,
  service: "registry.test",
  clientIp: "10.0.0.7",
});

export const authz = (
  name: string,
  actions: string[] = ["pull", "push"],
  extra: Partial<AuthzRequest> = {},
): AuthzRequest => ({
  account: "alice",
  service: "registry.test",
  clientIp: "10.0.0.7",
  labels: { groups: ["dev"] },
  scope: { type: "repository", name, actions },
  ...extra,
});

/** A temp folder holding a signing key and certificate (`signing-key.pem`, `signing-cert.pem`). */
export async function keyDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "regauth-server-"));
  await ensureDevConfig({ stateDir: dir });
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `text` to `dir/name` and returns the path. */
export async function writeConfig(
  dir: string,
  text: string,
  name = "auth_config.yml",
): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}
