/** The session store: random ids, idle and absolute expiry, the size bound, cookie parsing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readCookie, SessionStore } from '../src/session.js';

describe('SessionStore', () => {
  it('creates unguessable sessions with their own CSRF token and the key’s actions', () => {
    const store = new SessionStore();
    const a = store.create('spk_a', { name: 'a', actions: ['read'] });
    const b = store.create('spk_b', { name: 'b', actions: ['read', 'admin'] });
    assert.match(a.id, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a.id, b.id);
    assert.notEqual(a.csrfToken, b.csrfToken);
    assert.notEqual(a.id, a.csrfToken);
    const { can } = a; // works unbound
    assert.equal(can('read'), true);
    assert.equal(can('admin'), false);
    assert.equal(b.can('admin'), true);
    assert.equal(store.create(null, null).can('admin'), true, 'an open server’s session can do anything the API allows');
    assert.equal(store.get(a.id), a);
    assert.equal(store.get('nope'), null);
    assert.equal(store.get(undefined), null);
  });

  it('expires idle sessions, and every session after its maximum age', () => {
    let now = 0;
    const store = new SessionStore({ idleMs: 1000, maxAgeMs: 5000, now: () => now });
    const s = store.create('k', { name: 'k', actions: [] });
    for (now = 900; now <= 4800; now += 900) assert.equal(store.get(s.id), s, `alive at ${now}`);
    now = 5100;
    assert.equal(store.get(s.id), null, 'past the maximum age');
    const idle = store.create('k', { name: 'k', actions: [] });
    now += 1001;
    assert.equal(store.get(idle.id), null, 'idle too long');
  });

  it('keeps at most maxSessions, dropping the least recently used', () => {
    const store = new SessionStore({ maxSessions: 3 });
    const [a, b, c] = [1, 2, 3].map(() => store.create('k', null));
    store.get(a!.id); // a is now the most recent
    const d = store.create('k', null);
    assert.equal(store.size, 3);
    assert.equal(store.get(b!.id), null, 'b was the least recently used');
    for (const s of [a, c, d]) assert.ok(store.get(s!.id));
    store.delete(d.id);
    assert.equal(store.get(d.id), null);
  });

  it('reads a cookie among others', () => {
    assert.equal(readCookie('a=1; spindle_session=xyz; b=2', 'spindle_session'), 'xyz');
    assert.equal(readCookie('spindle_session_old=1', 'spindle_session'), undefined);
    assert.equal(readCookie(undefined, 'spindle_session'), undefined);
  });
});
