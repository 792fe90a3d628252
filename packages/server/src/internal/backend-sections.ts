import { z } from "zod";

/**
 * The zod schemas of docker_auth's `ldap_auth`, `mongo_auth` and `acl_mongo`
 * sections, with docker_auth's key names (protocol.md §4), and the parsing of
 * Go durations (`"10s"`, `"1m30s"`) their timeouts are written in.
 */

/**
 * An optional string as docker_auth configs write one: absent, `null` (a key
 * with no value, as in `bind_dn:`) and `""` all mean "not set".
 */
export const optionalText = z
  .string({ error: "expected a string" })
  .nullish()
  .transform((value) => (value === null || value === "" ? undefined : value));

/** A key that must be absent, with the message to give when it is there. */
const refused = (message: string) =>
  z
    .unknown()
    .refine(() => false, { error: message })
    .optional();

const UNITS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Milliseconds in a Go duration (`time.ParseDuration`: `"300ms"`, `"10s"`,
 * `"1m30s"`, `"1.5h"`, `"0"`), or `undefined` when `text` is not one. Signs
 * are not accepted: no timeout here may be negative.
 */
export function parseGoDuration(text: string): number | undefined {
  if (text === "0") return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const found = part.exec(text);
    if (found === null) return undefined;
    total += Number(found[1]) * (UNITS[found[2] as string] as number);
    at = part.lastIndex;
  }
  return at === 0 ? undefined : total;
}

/**
 * A Go duration in a string, as milliseconds, within [minMs, maxMs]; `"0"` is
 * `zeroMeansMs` when given.
 */
export const duration = (minMs: number, maxMs: number, zeroMeansMs?: number) =>
  z
    .string({ error: 'expected a duration such as "10s" or "1m" (a bare number is not one)' })
    .transform((text, context) => {
      const parsed = parseGoDuration(text.trim());
      if (parsed === undefined) {
        context.addIssue({
          code: "custom",
          message: 'expected a duration such as "10s", "1m" or "1m30s"',
        });
        return z.NEVER;
      }
      const ms = parsed === 0 && zeroMeansMs !== undefined ? zeroMeansMs : parsed;
      if (ms < minMs || ms > maxMs) {
        context.addIssue({
          code: "custom",
          message: `expected from ${describeMs(minMs)} to ${describeMs(maxMs)}`,
        });
        return z.NEVER;
      }
      return Math.round(ms);
    });

function describeMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

/** `host:port`, `1.2.3.4:389`, `[::1]:636`: the port is required (go-ldap dials it as is). */
const LDAP_ADDR = /^(?:\[[0-9A-Fa-f:.]+\]|[^:[\]\s/@?#]+):\d{1,5}$/;

/** An attribute name (`memberOf`) or OID (`1.2.840.113556.1.4.1941`). */
const ATTRIBUTE = /^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+)$/;

const ACCOUNT = "${account}";

const ldapLabelSchema = z.strictObject(
  {
    attribute: z
      .string({ error: "required, expected an attribute name such as memberOf" })
      .regex(ATTRIBUTE, { error: "expected an attribute name such as memberOf" }),
    parse_cn: z.boolean({ error: "expected true or false" }).default(false),
    lower_case: z.boolean({ error: "expected true or false" }).default(false),
  },
  { error: "expected a mapping with attribute (and parse_cn, lower_case)" },
);

/** docker_auth's `ldap_auth`, plus regauth's `bind_password` (for a `${ENV}` reference). */
export const ldapAuthSchema = z
  .strictObject(
    {
      addr: z
        .string({ error: "required, expected HOST:PORT such as ldap.example.com:636" })
        .regex(LDAP_ADDR, { error: "expected HOST:PORT such as ldap.example.com:636" }),
      tls: z
        .enum(["", "none", "starttls", "always"], {
          error: 'expected "none", "starttls" or "always"',
        })
        .nullish(),
      insecure_tls_skip_verify: z.boolean({ error: "expected true or false" }).default(false),
      ca_certificate: optionalText,
      bind_dn: optionalText,
      bind_password_file: optionalText,
      bind_password: optionalText,
      initial_bind_as_user: z.boolean({ error: "expected true or false" }).default(false),
      base: z
        .string({ error: "required, expected the DN searches start at, such as dc=example,dc=org" })
        .min(1, { error: "expected the DN searches start at, such as dc=example,dc=org" }),
      filter: z
        .string({ error: `required, expected a filter such as (uid=${ACCOUNT})` })
        .refine((text) => text.includes(ACCOUNT), {
          error: `expected ${ACCOUNT} in the filter, such as (uid=${ACCOUNT})`,
        }),
      labels: z
        .record(z.string().min(1, { error: "expected a label name" }), ldapLabelSchema, {
          error: "expected a mapping of label names to {attribute, parse_cn, lower_case}",
        })
        .nullish()
        .transform((value) => value ?? {}),
      method: refused(
        "docker_auth's old method key is not read: write tls: none, starttls or always",
      ),
    },
    { error: "expected a mapping with addr, base and filter" },
  )
  .superRefine((section, context) => {
    const issue = (key: string, message: string) =>
      context.addIssue({ code: "custom", path: [key], message });
    const tls = ldapTlsMode(section.addr, section.tls);
    if (tls === "none") {
      if (section.ca_certificate !== undefined) {
        issue("ca_certificate", "only with tls: starttls or always");
      }
      if (section.insecure_tls_skip_verify) {
        issue("insecure_tls_skip_verify", "only with tls: starttls or always");
      }
    }
    const password =
      section.bind_password_file !== undefined || section.bind_password !== undefined;
    if (section.bind_password_file !== undefined && section.bind_password !== undefined) {
      issue("bind_password", "give bind_password_file or bind_password, not both");
    }
    if (section.initial_bind_as_user) {
      if (section.bind_dn === undefined) {
        issue(
          "bind_dn",
          `required with initial_bind_as_user: the user's DN with ${ACCOUNT}, such as uid=${ACCOUNT},ou=people,dc=example,dc=org`,
        );
      } else if (!section.bind_dn.includes(ACCOUNT)) {
        issue("bind_dn", `expected ${ACCOUNT} in the DN with initial_bind_as_user`);
      }
      if (password) {
        issue(
          section.bind_password_file !== undefined ? "bind_password_file" : "bind_password",
          "not with initial_bind_as_user: the user's own password binds",
        );
      }
    } else {
      if (section.bind_dn !== undefined && !password) {
        issue("bind_password_file", "required with bind_dn (or bind_password)");
      }
      if (section.bind_dn === undefined && password) {
        issue("bind_dn", "required with a bind password");
      }
    }
  });

/**
 * docker_auth's TLS mode: `tls` as written, or (empty) `always` when `addr`
 * ends in `:636`, `none` otherwise.
 */
export function ldapTlsMode(
  addr: string,
  tls: string | null | undefined,
): "none" | "starttls" | "always" {
  if (tls === "starttls" || tls === "always" || tls === "none") return tls;
  return addr.endsWith(":636") ? "always" : "none";
}

/** A MongoDB host: `name`, `name:port`, `1.2.3.4:27017`, `[::1]:27017`. */
const MONGO_HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[^:[\]\s/@?#,]+)(?::\d{1,5})?$/;

/**
 * docker_auth's `dial_info` (mgo's `DialInfo` keys, lower-cased, plus
 * `password_file` and `enable_tls`).
 */
const dialInfoSchema = z
  .strictObject(
    {
      addrs: z
        .array(
          z
            .string({ error: "expected HOST or HOST:PORT" })
            .regex(MONGO_HOST, { error: "expected HOST or HOST:PORT" }),
          { error: 'required, expected a list of HOST or HOST:PORT, such as ["localhost"]' },
        )
        .min(1, { error: "expected at least one HOST or HOST:PORT" }),
      database: z
        .string({ error: "required, expected a database name" })
        .min(1, { error: "expected a database name" }),
      // mgo: 0 or absent is docker_auth's 10 s.
      timeout: duration(1, 600_000, 10_000)
        .nullish()
        .transform((ms) => ms ?? 10_000),
      username: optionalText,
      password: optionalText,
      password_file: optionalText,
      source: optionalText,
      replicasetname: optionalText,
      direct: z.boolean({ error: "expected true or false" }).default(false),
      mechanism: z
        .enum(["SCRAM-SHA-1", "SCRAM-SHA-256", "MONGODB-X509", "PLAIN", "GSSAPI"], {
          error: "expected SCRAM-SHA-1, SCRAM-SHA-256, MONGODB-X509, PLAIN or GSSAPI",
        })
        .nullish()
        .transform((value) => value ?? undefined),
      enable_tls: z.boolean({ error: "expected true or false" }).default(false),
      poollimit: z
        .number({ error: "expected a number of connections" })
        .int({ error: "expected a whole number of connections" })
        .min(1, { error: "expected at least 1" })
        .max(10_000, { error: "expected at most 10000" })
        .optional(),
      failfast: refused(
        "not supported: the driver's server selection timeout is dial_info.timeout",
      ),
      service: refused("not supported: GSSAPI service names are not configurable here"),
      servicehost: refused("not supported: GSSAPI service hosts are not configurable here"),
    },
    { error: "required, expected a mapping with addrs and database" },
  )
  .superRefine((dial, context) => {
    const issue = (key: string, message: string) =>
      context.addIssue({ code: "custom", path: [key], message });
    if (dial.password !== undefined && dial.password_file !== undefined) {
      issue("password_file", "give password or password_file, not both");
    }
    if (
      dial.username === undefined &&
      (dial.password !== undefined || dial.password_file !== undefined)
    ) {
      issue("username", "required with a password");
    }
  });

/** docker_auth's `mongo_auth`, plus regauth's `allow_passwordless` and `create_index`. */
export const mongoAuthSchema = z.strictObject(
  {
    dial_info: dialInfoSchema,
    collection: z
      .string({ error: 'required, expected the users collection, such as "users"' })
      .min(1, { error: 'expected the users collection, such as "users"' }),
    allow_passwordless: z.boolean({ error: "expected true or false" }).default(false),
    create_index: z.boolean({ error: "expected true or false" }).default(true),
  },
  { error: "expected a mapping with dial_info and collection" },
);

/** docker_auth's `acl_mongo`. */
export const aclMongoSchema = z.strictObject(
  {
    dial_info: dialInfoSchema,
    collection: z
      .string({ error: 'required, expected the rules collection, such as "acl"' })
      .min(1, { error: 'expected the rules collection, such as "acl"' }),
    cache_ttl: duration(100, 86_400_000)
      .nullish()
      .transform((ms) => ms ?? 60_000),
  },
  { error: "expected a mapping with dial_info, collection and cache_ttl" },
);

export type LdapAuthFile = z.output<typeof ldapAuthSchema>;
export type MongoAuthFile = z.output<typeof mongoAuthSchema>;
export type AclMongoFile = z.output<typeof aclMongoSchema>;
export type DialInfoFile = z.output<typeof dialInfoSchema>;
