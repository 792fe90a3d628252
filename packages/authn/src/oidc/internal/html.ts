import { createHash } from "node:crypto";

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => ESCAPES[char] ?? char);
}

/** A fragment that is already HTML (built by {@link html}); anything else is escaped. */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Part = string | number | SafeHtml | readonly SafeHtml[] | undefined;

/** A tagged template that escapes every interpolated value that is not {@link SafeHtml}. */
export function html(strings: TemplateStringsArray, ...values: Part[]): SafeHtml {
  let text = strings[0] ?? "";
  values.forEach((value, index) => {
    if (value instanceof SafeHtml) text += value.text;
    else if (Array.isArray(value)) text += value.map((item) => item.text).join("");
    else if (value !== undefined) text += escapeHtml(String(value));
    text += strings[index + 1] ?? "";
  });
  return new SafeHtml(text);
}

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:40rem;margin:3rem auto;background:#fff;border:1px solid #d8dce3;border-radius:8px;padding:2rem}
h1{font-size:1.4rem;margin-top:0}
a.button,button{display:inline-block;background:#1f5fd1;color:#fff;border:0;border-radius:6px;padding:.6rem 1.2rem;font-size:1rem;text-decoration:none;cursor:pointer}
button.secondary{background:#5b6473}
pre{background:#1d2330;color:#e8ecf2;padding:1rem;border-radius:6px;white-space:pre-wrap;word-break:break-all}
.warning{background:#fff6dd;border:1px solid #e9c46a;padding:.6rem 1rem;border-radius:6px}
.muted{color:#5b6473;font-size:.9rem}
`;

/** The `style-src` source of {@link STYLE}: the one stylesheet the pages allow (no script at all). */
const STYLE_HASH = `'sha256-${createHash("sha256").update(STYLE).digest("base64")}'`;

/**
 * Headers of every page: no caching (a password page must not be stored), no
 * framing, no referrer to other origins (the callback URL carries the code), and a policy that
 * allows no script, one stylesheet, and forms posting only to this origin.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  pragma: "no-cache",
  "content-security-policy": `default-src 'none'; style-src ${STYLE_HASH}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
};

/** A whole page. `reason` (a failure code or a page name) is set on `<main data-page>` for tests and styling. */
export function page(title: string, pageName: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>${new SafeHtml(STYLE)}</style>
</head>
<body>
<main data-page="${pageName}">
${body}
</main>
</body>
</html>
`.text;
}
