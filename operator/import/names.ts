// Kubernetes object names from smtpd.conf names, addresses and domains: lower-case DNS labels joined by
// dashes (`max.muster@example.org` → `max-muster`, `example.org` → `example-org`), unique per kind.

/** A DNS-1123 label-ish name (≤ 63 characters) from any text. */
export function objectName(text: string, fallback = 'x'): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/g, '');
  return s || fallback;
}

/** Hands out names unique within one kind: `max`, then `max-2`, `max-3`. */
export class NameSet {
  private readonly used = new Set<string>();

  take(wanted: string): string {
    const base = objectName(wanted);
    let name = base;
    for (let i = 2; this.used.has(name); i++) name = `${base.slice(0, 60)}-${i}`;
    this.used.add(name);
    return name;
  }
}
