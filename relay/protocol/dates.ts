// Dates in mail headers (Received:, Date:, DSNs): RFC 5322 section 3.3, always in UTC.
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}
