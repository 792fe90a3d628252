import { readFile } from "node:fs/promises";
import type { LdapAuthenticatorOptions } from "@regauth/authn/ldap";
import type { MongoAuthenticatorOptions } from "@regauth/authn/mongodb";
import { RegauthError } from "@regauth/core";
import type { LdapAuthSection, MongoDialInfo } from "../load-config.js";

/**
 * Turns the docker_auth sections `ldap_auth`, `mongo_auth` and `acl_mongo`
 * into the options of regauth's backends, and names the backends' option
 * errors by the docker_auth keys they came from.
 */

/**
 * Reads a password file as docker_auth does: the whole file, surrounding
 * whitespace trimmed. `where` is the config key, for errors.
 *
 * @throws RegauthError `ERR_CONFIG_INVALID`: unreadable (`where: cannot read
 *   PATH: ENOENT`) or empty. The content is never put in a message.
 */
export async function readSecretFile(path: string, where: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new RegauthError(
      "ERR_CONFIG_INVALID",
      `${where}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
      { cause: error },
    );
  }
  const secret = text.trim();
  if (secret === "") {
    throw new RegauthError("ERR_CONFIG_INVALID", `${where}: ${path} is empty`);
  }
  return secret;
}

/** The LDAP authenticator's options for an `ldap_auth` section (the bind password already read). */
export function ldapOptions(
  section: LdapAuthSection,
  bindPassword: string | undefined,
): Omit<LdapAuthenticatorOptions, "logger" | "name"> {
  const search =
    section.initialBindAsUser && section.bindDn !== undefined
      ? { initialBindAsUser: section.bindDn }
      : section.bindDn !== undefined && bindPassword !== undefined
        ? { bindDn: section.bindDn, bindPassword }
        : {};
  return {
    url: section.url,
    ...(section.tls === "starttls" ? { startTls: true } : {}),
    ...(section.caCertificate === undefined ? {} : { caFile: section.caCertificate }),
    ...(section.insecureTlsSkipVerify ? { insecureSkipTlsVerify: true } : {}),
    ...search,
    base: section.base,
    filter: section.filter,
    labels: Object.fromEntries(
      Object.entries(section.labels).map(([name, label]) => [
        name,
        { attribute: label.attribute, parseCN: label.parseCn, lowerCase: label.lowerCase },
      ]),
    ),
  };
}

/** What the MongoDB backends' `uri` and `clientOptions` are for a `dial_info`. */
export function mongoConnectionOptions(
  dial: MongoDialInfo,
  password: string | undefined,
): { uri: string; clientOptions: NonNullable<MongoAuthenticatorOptions["clientOptions"]> } {
  // Credentials go in clientOptions, never in the URI: nothing to escape, nothing to leak.
  const clientOptions: NonNullable<MongoAuthenticatorOptions["clientOptions"]> = {
    ...(dial.username === undefined
      ? {}
      : {
          auth: { username: dial.username, ...(password === undefined ? {} : { password }) },
          // mgo: the credentials' database defaults to `database`, not admin.
          authSource: dial.source ?? dial.database,
        }),
    ...(dial.mechanism === undefined ? {} : { authMechanism: dial.mechanism as "SCRAM-SHA-256" }),
    ...(dial.replicaSetName === undefined ? {} : { replicaSet: dial.replicaSetName }),
    ...(dial.direct ? { directConnection: true } : {}),
    ...(dial.enableTls ? { tls: true } : {}),
    ...(dial.poolLimit === undefined ? {} : { maxPoolSize: dial.poolLimit }),
  };
  return { uri: `mongodb://${dial.addrs.join(",")}/`, clientOptions };
}

/** Backend option names to docker_auth keys, for each section. */
export const LDAP_KEYS: Readonly<Record<string, string>> = {
  url: "addr",
  startTls: "tls",
  caFile: "ca_certificate",
  insecureSkipTlsVerify: "insecure_tls_skip_verify",
  bindDn: "bind_dn",
  bindPassword: "bind_password_file",
  bindPasswordFile: "bind_password_file",
  initialBindAsUser: "bind_dn",
  parseCN: "parse_cn",
  lowerCase: "lower_case",
};

export const MONGO_KEYS: Readonly<Record<string, string>> = {
  uri: "dial_info",
  clientOptions: "dial_info",
  database: "dial_info.database",
  timeoutMs: "dial_info.timeout",
  cacheTtl: "cache_ttl",
  createIndex: "create_index",
  allowPasswordless: "allow_passwordless",
};

/**
 * Rewrites the option names at the start of each `; `-separated line of a
 * backend's config error (`caFile: cannot read ...`,
 * `labels.groups.parseCN: ...`) to the docker_auth keys in `keys`.
 */
export function renameKeys(message: string, keys: Readonly<Record<string, string>>): string {
  return message
    .split("; ")
    .map((line) => {
      const colon = line.indexOf(": ");
      if (colon < 0) return line;
      // The first segment is an option; the last may be a nested one (labels.NAME.parseCN).
      const path = line
        .slice(0, colon)
        .replace(/^[A-Za-z]+|(?<=\.)[A-Za-z]+$/g, (segment) =>
          Object.hasOwn(keys, segment) ? (keys[segment] as string) : segment,
        );
      return `${path}${line.slice(colon)}`;
    })
    .join("; ");
}
