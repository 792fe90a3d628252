import type { Labels } from "@regauth/core";

/** Why the claims of a signed-in user were refused (see `OidcLoginFailure`). */
export type ClaimRefusal = "account_missing" | "email_unverified" | "domain_not_allowed";

/** What {@link evaluateClaims} needs from the options. */
export interface ClaimRules {
  readonly accountClaim: string;
  readonly labelClaims: Readonly<Record<string, string>>;
  readonly allowedDomains: readonly string[];
}

/** The outcome of {@link evaluateClaims}. */
export type ClaimDecision =
  | { readonly ok: true; readonly account: string; readonly labels: Labels }
  | { readonly ok: false; readonly reason: ClaimRefusal };

/** `email_verified` as providers send it: a boolean, or (some older ones) the string `"true"`. */
function isVerified(value: unknown): boolean {
  return value === true || value === "true";
}

function emailDomain(email: unknown): string | undefined {
  if (typeof email !== "string") return undefined;
  const at = email.lastIndexOf("@");
  return at > 0 ? email.slice(at + 1).toLowerCase() : undefined;
}

/**
 * Turns verified ID token (or UserInfo) claims into an account and labels,
 * or a refusal. Rules (OpenID Connect Core 1.0 §5.1 for the standard claims):
 *
 * - the account claim must be a non-empty string without `:` (HTTP Basic ends
 *   the user name there) and without control characters;
 * - when the account claim is `email`, `email_verified` must be true;
 * - with `allowedDomains`, the user passes when Google's `hd` claim is one of
 *   them, or when the verified `email`'s domain is (compared in lower case);
 * - a label claim that is a string gives one value, an array gives its string
 *   members; anything else, or a missing claim, gives no label.
 */
export function evaluateClaims(claims: Record<string, unknown>, rules: ClaimRules): ClaimDecision {
  const account = claims[rules.accountClaim];
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (typeof account !== "string" || account === "" || /[:\x00-\x1f\x7f]/.test(account)) {
    return { ok: false, reason: "account_missing" };
  }
  const emailVerified = isVerified(claims.email_verified);
  if (rules.accountClaim === "email" && !emailVerified) {
    return { ok: false, reason: "email_unverified" };
  }
  if (rules.allowedDomains.length > 0) {
    const hd = typeof claims.hd === "string" ? claims.hd.toLowerCase() : undefined;
    const domain = emailVerified ? emailDomain(claims.email) : undefined;
    const allowed =
      (hd !== undefined && rules.allowedDomains.includes(hd)) ||
      (domain !== undefined && rules.allowedDomains.includes(domain));
    if (!allowed) return { ok: false, reason: "domain_not_allowed" };
  }
  const labels: Record<string, string[]> = {};
  for (const [label, claim] of Object.entries(rules.labelClaims)) {
    const value = claims[claim];
    if (typeof value === "string") labels[label] = [value];
    else if (Array.isArray(value)) {
      labels[label] = value.filter((item): item is string => typeof item === "string");
    }
  }
  return { ok: true, account, labels };
}
