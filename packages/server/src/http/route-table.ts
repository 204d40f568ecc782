/**
 * The registered routes as patterns, so an unmatched request can be told apart: a path that
 * exists under other methods gets 405 with `Allow` (TRACE, or GET on a mutating route), any
 * other path 404.
 */

interface Pattern {
  regex: RegExp;
  methods: Set<string>;
}

export class RouteTable {
  private readonly patterns = new Map<string, Pattern>();

  add(method: string | string[], url: string): void {
    let pattern = this.patterns.get(url);
    if (!pattern) {
      pattern = { regex: toRegex(url), methods: new Set() };
      this.patterns.set(url, pattern);
    }
    for (const m of Array.isArray(method) ? method : [method]) pattern.methods.add(m.toUpperCase());
  }

  /** Every registered (method, url pattern), for listings and the auth matrix test. */
  list(): Array<{ method: string; url: string }> {
    return [...this.patterns.entries()].flatMap(([url, p]) => [...p.methods].map((method) => ({ method, url })));
  }

  /** Methods some route accepts for this concrete path (HEAD comes with GET), sorted. */
  methodsFor(path: string): string[] {
    const methods = new Set<string>();
    for (const pattern of this.patterns.values()) {
      if (pattern.regex.test(path)) for (const m of pattern.methods) methods.add(m);
    }
    return [...methods].sort();
  }
}

function toRegex(url: string): RegExp {
  const body = url
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) return '[^/]+';
      if (segment === '*') return '.*';
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${body}/?$`);
}
