import { html, page, type SafeHtml } from "./html.js";

/** Quotes a value for a POSIX shell: single quotes, each `'` written `'\''`. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9@._+=:/-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

export function signInPage(providerName: string, loginPath: string): string {
  return page(
    "Sign in to the registry",
    "sign-in",
    html`<h1>Sign in to the registry</h1>
<p>Sign in with ${providerName} to get a password for <code>docker login</code>.</p>
<p><a class="button" href="${loginPath}">Sign in with ${providerName}</a></p>`,
  );
}

export interface PasswordPageData {
  readonly account: string;
  readonly password: string;
  readonly registryHost: string;
  readonly expiresAt: Date;
  readonly labels: Readonly<Record<string, readonly string[]>>;
  readonly signOutPath: string;
  readonly csrf: string;
}

export function passwordPage(data: PasswordPageData): string {
  const login = `echo ${shellQuote(data.password)} | docker login --username ${shellQuote(data.account)} --password-stdin ${shellQuote(data.registryHost)}`;
  const labelItems: SafeHtml[] = Object.entries(data.labels).map(
    ([name, values]) => html`<li><code>${name}</code>: ${values.join(", ")}</li>`,
  );
  return page(
    "Your registry password",
    "password",
    html`<h1>Your registry password</h1>
<p>Signed in as <strong data-account>${data.account}</strong>.</p>
<p class="warning">This password is shown once. Copy it now: it cannot be shown again.</p>
<p>Password:</p>
<pre data-password>${data.password}</pre>
<p>Log in with:</p>
<pre data-docker-login>${login}</pre>
<p class="muted">Valid until ${data.expiresAt.toISOString()}, as long as the identity provider still accepts you.</p>
${labelItems.length > 0 ? html`<p>Groups and roles:</p><ul>${labelItems}</ul>` : undefined}
<form method="post" action="${data.signOutPath}">
<input type="hidden" name="csrf" value="${data.csrf}">
<button class="secondary" type="submit">Sign out and revoke all my registry passwords</button>
</form>`,
  );
}

export function signedOutPage(homePath: string, revoked: number): string {
  return page(
    "Signed out",
    "signed-out",
    html`<h1>Signed out</h1>
<p>${revoked === 1 ? "1 registry password was" : `${revoked} registry passwords were`} revoked.</p>
<p><a href="${homePath}">Sign in again</a></p>`,
  );
}

export function failurePage(
  reason: string,
  message: string,
  homePath: string,
  detail?: string,
): string {
  return page(
    "Sign-in failed",
    reason,
    html`<h1>Sign-in failed</h1>
<p data-reason="${reason}">${message}</p>
${detail === undefined ? undefined : html`<p class="muted">The identity provider said: <code>${detail}</code></p>`}
<p><a href="${homePath}">Start again</a></p>`,
  );
}
