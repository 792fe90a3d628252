import type { z } from "zod";
import { RegauthError } from "../errors.js";

/** A key that reads unambiguously after a dot: `match`, `ci-bot`, `$schema`. */
const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

/**
 * Formats a zod path as a dotted config path: `acl[3].match.name`. A key that
 * would not read after a dot (empty, or holding `.`, spaces, `@`...) is
 * written as a quoted index: `users[""].password`, `users["a.b"].labels`.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const key of path) {
    if (typeof key === "number") text += `[${key}]`;
    else if (typeof key === "string" && !PLAIN_KEY.test(key)) text += `[${JSON.stringify(key)}]`;
    else text += text === "" ? String(key) : `.${String(key)}`;
  }
  return text === "" ? "(options)" : text;
}

/**
 * Turns a zod failure into `ERR_CONFIG_INVALID` whose message names each bad
 * field by its dotted path, `prefix` first: `acl[3].match.nmae: unknown key`.
 * Values are never echoed, so no secret reaches the message.
 */
export function configError(error: z.ZodError, prefix: readonly PropertyKey[] = []): RegauthError {
  const lines = error.issues.slice(0, 10).map((issue) => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys
        .map((key) => `${formatPath([...prefix, ...issue.path, key])}: unknown key`)
        .join("; ");
    }
    return `${formatPath([...prefix, ...issue.path])}: ${lowerFirst(issue.message)}`;
  });
  return new RegauthError("ERR_CONFIG_INVALID", lines.join("; "), { cause: error });
}

/**
 * House style: messages start in lower case (zod's own start with a capital).
 * A leading acronym (`RSA key ...`, `EC curve ...`) is left as it is.
 */
function lowerFirst(message: string): string {
  return /^[A-Z][a-z]/.test(message) ? message.charAt(0).toLowerCase() + message.slice(1) : message;
}
