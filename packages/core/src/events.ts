/**
 * The client's event hub: turns the backend's event batches into typed per-type events for
 * users (`client.on('completed', …)`) and feeds internal listeners (workers waking up, the
 * promoter re-arming its timer).
 *
 * Topic events (`published`) go only to topic listeners (`addTopicListener`: client.topics waking
 * its consumers); job and queue listeners, internal or `client.on(…)` (the server's SSE,
 * WebSocket and webhook feeds among them), never see them.
 *
 * Events are notifications (see `EventListener` in backend.ts): at-most-once, best effort. A
 * listener that throws is reported to the logger and never breaks delivery to the others.
 */
import { EventEmitter } from 'node:events';
import type { JobEvent, JobOrQueueEvent, QueueEvent, SpindleEvent, TopicEvent } from './backend/backend.js';
import type { Logger } from './logger.js';
import { describe, Issues } from './validate.js';

export interface ClientEventMap {
  added: JobEvent;
  started: JobEvent;
  progress: JobEvent;
  completed: JobEvent;
  /** An attempt failed and the job will run again. */
  retrying: JobEvent;
  /** The job landed in the DLQ. */
  dead: JobEvent;
  cancelled: JobEvent;
  cancel_requested: JobEvent;
  snoozed: JobEvent;
  released: JobEvent;
  promoted: JobEvent;
  replayed: JobEvent;
  /** A lease expired and the rescuer moved the job (state says where). */
  rescued: JobEvent;
  /** An operator put a finished job back in its queue (new round). */
  retried: JobEvent;
  /** An operator deleted the job; `state` is the state it had. */
  removed: JobEvent;
  /** An operator replaced the payload of a job that had not started. */
  updated: JobEvent;
  /** Any failed attempt: emitted alongside `retrying`, `dead`, and `rescued`. */
  failed: JobEvent;
  paused: QueueEvent;
  resumed: QueueEvent;
  /** A queue's limits were set or cleared, or its hold ended. */
  limits_changed: QueueEvent;
  /** Every job and queue event, whatever its type (topic events are not client events). */
  event: JobOrQueueEvent;
}

export type ClientEventName = keyof ClientEventMap;

/** Every event name (the Record makes the compiler check it is complete), for run-time checks. */
const CLIENT_EVENT_NAMES: Record<ClientEventName, true> = {
  added: true, started: true, progress: true, completed: true, retrying: true, dead: true, cancelled: true,
  cancel_requested: true, snoozed: true, released: true, promoted: true, replayed: true, rescued: true,
  retried: true, removed: true, updated: true, failed: true, paused: true, resumed: true, limits_changed: true, event: true,
};

/** `on`/`once` validate like every public entry point: a misspelt event name would never fire. */
function checkListener(name: unknown, listener: unknown): void {
  const issues = new Issues();
  if (typeof name !== 'string' || !Object.hasOwn(CLIENT_EVENT_NAMES, name)) {
    issues.add('event', `must be one of ${Object.keys(CLIENT_EVENT_NAMES).join(', ')} (got ${describe(name)})`);
  }
  if (typeof listener !== 'function') issues.add('listener', 'must be a function');
  issues.throwIfAny();
}

export type InternalListener = (event: JobOrQueueEvent) => void;
export type TopicListener = (event: TopicEvent) => void;

export class EventHub {
  private readonly emitter = new EventEmitter();
  private readonly internal = new Set<InternalListener>();
  private readonly topicListeners = new Set<TopicListener>();

  constructor(private readonly logger: Logger) {
    this.emitter.setMaxListeners(0);
  }

  on<K extends ClientEventName>(name: K, listener: (event: ClientEventMap[K]) => void): () => void {
    checkListener(name, listener);
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  once<K extends ClientEventName>(name: K, listener: (event: ClientEventMap[K]) => void): () => void {
    checkListener(name, listener);
    this.emitter.once(name, listener);
    return () => this.emitter.off(name, listener);
  }

  off<K extends ClientEventName>(name: K, listener: (event: ClientEventMap[K]) => void): void {
    this.emitter.off(name, listener);
  }

  /** For Spindle's own services: called for every event, before user listeners. */
  addInternal(listener: InternalListener): () => void {
    this.internal.add(listener);
    return () => this.internal.delete(listener);
  }

  /** For client.topics: called for every topic event (no job or queue event). */
  addTopicListener(listener: TopicListener): () => void {
    this.topicListeners.add(listener);
    return () => this.topicListeners.delete(listener);
  }

  /** Delivers one backend batch. */
  dispatch(events: SpindleEvent[]): void {
    for (const event of events) {
      if (event.type === 'published') {
        for (const listener of this.topicListeners) this.call(listener, event);
        continue;
      }
      for (const listener of this.internal) this.call(listener, event);
      this.emitUser(event.type, event);
      if (event.type === 'retrying' || event.type === 'dead' || (event.type === 'rescued' && 'jobId' in event)) {
        this.emitUser('failed', event);
      }
      this.emitUser('event', event);
    }
  }

  private emitUser(name: string, event: JobOrQueueEvent): void {
    if (this.emitter.listenerCount(name) === 0) return;
    for (const listener of this.emitter.listeners(name)) this.call(listener as InternalListener, event);
  }

  /** Calls one listener; a throw is logged and delivery goes on (no closure per call: hot path). */
  private call<E extends SpindleEvent>(listener: (event: E) => void, event: E): void {
    try {
      listener(event);
    } catch (err) {
      this.logger.error({ err }, 'spindle: an event listener threw');
    }
  }
}
