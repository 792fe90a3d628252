// LDAP authentications per second against a real OpenLDAP slapd on loopback
// (started here by the test harness): the authenticator keeping its
// connections (the default) side by side with one fresh connection per request
// (`reuseConnections: false`), over plain LDAP and over StartTLS, one request
// at a time and 8 at once. Each cell runs for a fixed time; prints figures,
// asserts only that every answer was "allow".
//
// Run: pnpm bench:ldap   (from the repository root; needs scripts/install-peers)
// LDAP_BENCH_SECONDS=N sets the time per cell (default 2).

import { createLdapAuthenticator, type LdapAuthenticatorOptions } from "@regauth/authn/ldap";
import type { AuthnRequest } from "@regauth/core";
import { Cleanup } from "../test/support/cleanup.js";
import { checkPeers } from "../test/support/peers.js";
import { SLAPD_PEERS, startExampleSlapd } from "../test/support/slapd.js";

const seconds = Number(process.env.LDAP_BENCH_SECONDS ?? "2");
const peers = checkPeers(...SLAPD_PEERS);
if (!peers.ok) throw new Error(peers.reason);

const cleanup = new Cleanup();
try {
  const { slapd, directory } = await startExampleSlapd(cleanup, { tls: true, logLevel: 0 });
  const common: LdapAuthenticatorOptions = {
    url: slapd.url,
    bindDn: directory.service.dn,
    bindPassword: directory.service.password,
    base: `ou=people,${slapd.suffix}`,
    filter: "(&(objectClass=inetOrgPerson)(uid=${account}))",
    labels: { groups: { attribute: "memberOf", parseCN: true, lowerCase: true } },
    maxConnections: 8,
  };
  const request: AuthnRequest = {
    account: "alice",
    password: "alice-pw",
    service: "bench",
    clientIp: undefined,
  };

  /** Authentications per second and mean latency for one configuration. */
  async function measure(
    options: Partial<LdapAuthenticatorOptions>,
    concurrency: number,
  ): Promise<{ perSecond: number; meanMs: number }> {
    const ldap = createLdapAuthenticator({ ...common, ...options });
    try {
      for (let i = 0; i < 20; i++) await check(ldap.authenticate(request)); // warm-up
      let done = 0;
      const started = performance.now();
      const deadline = started + seconds * 1000;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < deadline) {
            await check(ldap.authenticate(request));
            done++;
          }
        }),
      );
      const elapsed = performance.now() - started;
      return { perSecond: (done / elapsed) * 1000, meanMs: (elapsed / done) * concurrency };
    } finally {
      await ldap.close();
    }
  }

  const transports = [
    { name: "ldap://", options: {} },
    { name: "ldap:// + StartTLS", options: { startTls: true, ca: slapd.ca?.pem ?? [] } },
  ];
  const rows: string[][] = [];
  for (const transport of transports) {
    for (const concurrency of [1, 8]) {
      const reuse = await measure(transport.options, concurrency);
      const fresh = await measure({ ...transport.options, reuseConnections: false }, concurrency);
      rows.push([
        transport.name,
        String(concurrency),
        `${reuse.perSecond.toFixed(0)} /s (${reuse.meanMs.toFixed(2)} ms)`,
        `${fresh.perSecond.toFixed(0)} /s (${fresh.meanMs.toFixed(2)} ms)`,
        `${(reuse.perSecond / fresh.perSecond).toFixed(1)}x`,
      ]);
    }
  }

  console.log(
    `LDAP authentications per second (mean latency), OpenLDAP slapd on loopback, ` +
      `search + user bind per login, ${seconds} s per cell`,
  );
  printTable(
    [
      "transport",
      "in flight",
      "connections reused",
      "one fresh connection per request",
      "reuse gain",
    ],
    rows,
  );
} finally {
  await cleanup.run();
}

async function check(outcome: Promise<{ result: string }>): Promise<void> {
  const { result } = await outcome;
  if (result !== "allow") throw new Error(`expected allow, got ${result}`);
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: string[]) =>
    cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ");
  console.log(line(header));
  console.log(line(widths.map((width) => "-".repeat(width))));
  for (const row of rows) console.log(line(row));
}
