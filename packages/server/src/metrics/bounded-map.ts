/**
 * A Map that forgets its oldest entries beyond a cap (insertion order; re-setting a key keeps
 * its place). Bounds the per-label state of the server's metrics and latency window.
 */
export class BoundedMap<V> extends Map<string, V> {
  constructor(private readonly cap: number) {
    super();
  }
  override set(key: string, value: V): this {
    if (this.size >= this.cap && !this.has(key)) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return super.set(key, value);
  }
}
