/**
 * A minimal Server-Sent Events reader for tests: opens a stream with fetch and yields parsed
 * events ({id, event, data}) as they arrive; comments (heartbeats) are counted, not yielded.
 */
export interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

export class SseStream {
  readonly events: SseEvent[] = [];
  comments = 0;
  status = 0;
  headers: Headers | null = null;
  private readonly abort = new AbortController();
  private waiters: Array<() => void> = [];
  private done: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = this.run(url, headers).catch(() => {});
  }

  private async run(url: string, headers: Record<string, string>): Promise<void> {
    const res = await fetch(url, { headers, signal: this.abort.signal });
    this.status = res.status;
    this.headers = res.headers;
    this.notify();
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        this.parse(block);
      }
    }
  }

  private parse(block: string): void {
    const event: Partial<SseEvent> & { dataLines: string[] } = { dataLines: [] };
    let onlyComments = true;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      onlyComments = false;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') event.id = value;
      else if (field === 'event') event.event = value;
      else if (field === 'data') event.dataLines.push(value);
    }
    if (onlyComments) {
      this.comments++;
      this.notify();
      return;
    }
    if (event.event === undefined && event.dataLines.length === 0) return; // e.g. `retry:`
    const parsed: SseEvent = { event: event.event ?? 'message', data: event.dataLines.length ? JSON.parse(event.dataLines.join('\n')) : null };
    if (event.id !== undefined) parsed.id = event.id;
    this.events.push(parsed);
    this.notify();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `probe` holds (checked on every arrival) or fails after `timeoutMs`. */
  async until(probe: (s: SseStream) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!probe(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events.map((e) => e.event))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}
