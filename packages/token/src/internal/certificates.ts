import { X509Certificate } from "node:crypto";

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Most certificates followed from a leaf to a root (the leaf excluded). */
const MAX_CHAIN_DEPTH = 8;

/**
 * Reads every `CERTIFICATE` block of a PEM text, in order. Other blocks are
 * skipped.
 *
 * @throws Error naming the index of a block that does not parse.
 */
export function readPemCertificates(pem: string): X509Certificate[] {
  const certificates: X509Certificate[] = [];
  for (const block of pem.match(CERTIFICATE_BLOCK) ?? []) {
    try {
      certificates.push(new X509Certificate(block));
    } catch (error) {
      throw new Error(`certificate ${certificates.length} does not parse`, { cause: error });
    }
  }
  return certificates;
}

/** True when `now` (milliseconds) lies within the certificate's validity period. */
export function validAt(certificate: X509Certificate, now: number): boolean {
  return Date.parse(certificate.validFrom) <= now && now <= Date.parse(certificate.validTo);
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/**
 * Checks that `leaf` chains to one of `roots`, possibly through some of
 * `intermediates`, as Go's `x509.Certificate.Verify` does for distribution's
 * `parseAndVerifyCertChain`: every certificate on the path is within its
 * validity period at `now`, every signature verifies, intermediates are CAs.
 * A leaf that is itself in `roots` (the usual self-signed setup) is trusted.
 *
 * @returns `undefined` when the chain holds, else a lower-case reason.
 */
export function checkCertificateChain(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  now: number,
): string | undefined {
  if (!validAt(leaf, now)) return "x5c leaf certificate is expired or not yet valid";
  const trustedRoots = roots.filter((root) => validAt(root, now));
  const candidates = intermediates.filter((cert) => cert.ca && validAt(cert, now));

  const reachesRoot = (cert: X509Certificate, used: ReadonlySet<X509Certificate>): boolean => {
    if (trustedRoots.some((root) => root.raw.equals(cert.raw) || issuedBy(cert, root))) return true;
    if (used.size >= MAX_CHAIN_DEPTH) return false;
    return candidates.some(
      (next) =>
        !used.has(next) && issuedBy(cert, next) && reachesRoot(next, new Set([...used, next])),
    );
  };
  return reachesRoot(leaf, new Set())
    ? undefined
    : "x5c certificate chain does not lead to a trusted root certificate";
}
