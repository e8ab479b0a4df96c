// Dates in mail headers (Received:, Date:, DSNs): RFC 5322 section 3.3, always in UTC,
// e.g. `Wed, 25 Nov 2026 22:07:45 +0000`.
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}
