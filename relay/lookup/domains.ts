// Domain patterns with wildcards (`*.example.org`, `example.*`, `*.example.*`), as OpenSMTPD's domain
// tables hold them. A `*` that is a whole label matches one or more labels, which is what fnmatch(3) gives
// OpenSMTPD for such patterns (`*.example.org` matches a.b.example.org, not example.org itself).
//
// Lookups must not get slower as a table grows, so wildcard patterns are grouped by shape (the sequence of
// literal and `*` labels, e.g. `*.L.*`): each shape holds a Map from its literal labels to the pattern.
// A lookup tries, per shape, every way the name's labels can fill the shape's stars — a handful of Map
// probes for real names, whatever the table's size. Patterns with a `*` inside a label (`mx*.example.org`)
// are rare and kept in a plain list that is scanned.

const MAX_STARS = 3;

interface Shape {
  /** true: a `*` label, false: a literal label */
  stars: boolean[];
  byLiterals: Map<string, string>;
}

export class DomainSet {
  private readonly exact = new Map<string, string>();
  private readonly shapes = new Map<string, Shape>();
  private readonly globs: { re: RegExp; pattern: string }[] = [];
  size = 0;

  /** Throws on a pattern that is not a domain name with optional wildcards. */
  add(pattern: string): void {
    const p = normalizeDomain(pattern);
    if (!/^[a-z0-9*_.-]+$/.test(p) || p.startsWith('.') || p.endsWith('.') || p.includes('..')) {
      throw new Error(`not a domain or domain pattern: "${pattern}"`);
    }
    this.size++;
    if (!p.includes('*')) {
      this.exact.set(p, pattern);
      return;
    }
    const labels = p.split('.');
    const stars = labels.map((l) => l === '*');
    if (labels.some((l, i) => l.includes('*') && !stars[i]) || stars.filter(Boolean).length > MAX_STARS) {
      const re = new RegExp('^' + p.replace(/[.+?^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.+') + '$');
      this.globs.push({ re, pattern });
      return;
    }
    const key = stars.map((s) => (s ? '*' : 'L')).join('.');
    let shape = this.shapes.get(key);
    if (!shape) this.shapes.set(key, (shape = { stars, byLiterals: new Map() }));
    shape.byLiterals.set(labels.filter((_, i) => !stars[i]).join('.'), pattern);
  }

  /** The pattern that matches `domain` (exact names first), or undefined. */
  match(domain: string): string | undefined {
    const d = normalizeDomain(domain);
    const hit = this.exact.get(d);
    if (hit !== undefined) return hit;
    if (this.shapes.size) {
      const labels = d.split('.');
      for (const shape of this.shapes.values()) {
        const found = matchShape(shape, labels);
        if (found !== undefined) return found;
      }
    }
    for (const g of this.globs) if (g.re.test(d)) return g.pattern;
    return undefined;
  }

  has(domain: string): boolean {
    return this.match(domain) !== undefined;
  }
}

/** Lower case, without a trailing dot; address literals (`[192.0.2.1]`) unchanged but for case. */
export function normalizeDomain(domain: string): string {
  const d = domain.toLowerCase();
  return d.endsWith('.') ? d.slice(0, -1) : d;
}

/** Tries every split of `labels` over the shape's stars (each star takes one or more labels). */
function matchShape(shape: Shape, labels: string[]): string | undefined {
  const { stars } = shape;
  const literalCount = stars.filter((s) => !s).length;
  const starCount = stars.length - literalCount;
  const spare = labels.length - stars.length; // labels the stars take beyond one each
  if (spare < 0 || (starCount === 0 && spare !== 0)) return undefined;
  const literals: string[] = [];
  const walk = (si: number, li: number, extra: number): string | undefined => {
    if (si === stars.length) {
      return li === labels.length ? shape.byLiterals.get(literals.join('.')) : undefined;
    }
    if (!stars[si]) {
      literals.push(labels[li]);
      const r = walk(si + 1, li + 1, extra);
      literals.pop();
      return r;
    }
    const isLastStar = stars.indexOf(true, si + 1) === -1;
    for (let take = isLastStar ? extra : 0; take <= extra; take++) {
      const r = walk(si + 1, li + 1 + take, extra - take);
      if (r !== undefined) return r;
    }
    return undefined;
  };
  return walk(0, 0, spare);
}
