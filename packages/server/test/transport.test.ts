/**
 * Transport-level bad input over a real socket (reliability §5.4 H2, H3, H25, H26): bodies that
 * grow past the limit, lying Content-Length, oversized headers, and slow clients. These happen
 * below the routes, so one backend (SQLite) is enough.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { BACKENDS, withServer } from './harness.js';

const sqlite = BACKENDS.find((b) => b.name === 'sqlite')!;

/** Opens a socket, runs `talk`, and resolves with everything the server sent until it closed. */
function exchange(port: number, talk: (socket: Socket) => void | Promise<void>, timeoutMs = 8000): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false, ms: Date.now() - started });
    }, timeoutMs);
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true, ms: Date.now() - started });
    });
    socket.on('error', () => {});
    socket.on('connect', () => {
      Promise.resolve(talk(socket)).catch(reject);
    });
  });
}

const head = (extra: string) => `POST /api/v1/queues/q/jobs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${extra}\r\n`;

describe('transport limits over a real socket', () => {
  test('H2 a chunked body growing past the limit → 413, and the server stops reading', () =>
    withServer(
      sqlite,
      async ({ server, client }) => {
        await server.start();
        const result = await exchange(server.port, async (socket) => {
          socket.write(head('transfer-encoding: chunked\r\n'));
          const chunk = 'x'.repeat(1024);
          for (let i = 0; i < 16 && !socket.destroyed; i++) {
            socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
            await new Promise((r) => setTimeout(r, 5));
          }
        });
        assert.match(result.text, /^HTTP\/1\.1 413/);
        assert.match(result.text, /payload_too_large/);
        assert.deepEqual(await client.counts(), {});
      },
      { bodyLimitBytes: 4096 },
    ));

  test('H3 a Content-Length larger than the body is cut at the request timeout; a smaller one is a 400', () =>
    withServer(
      sqlite,
      async ({ server, client }) => {
        await server.start();
        const longer = await exchange(server.port, (socket) => {
          socket.write(head('content-length: 100\r\n') + '{"name":"x"}');
        });
        assert.ok(longer.closed, 'the connection was closed');
        assert.ok(longer.ms < 6000, `no hang (${longer.ms} ms)`);
        assert.doesNotMatch(longer.text, /^HTTP\/1\.1 2/);
        const shorter = await exchange(server.port, (socket) => {
          socket.write(head('content-length: 5\r\nconnection: keep-alive\r\n') + '{"name":"x"}');
        });
        assert.doesNotMatch(shorter.text, /^HTTP\/1\.1 2/, 'a truncated body is not accepted');
        assert.match(shorter.text, /HTTP\/1\.1 400/);
        assert.deepEqual(await client.counts(), {});
      },
      { requestTimeoutMs: 1500, headersTimeoutMs: 1000 },
    ));

  test('H25 headers over 16 KiB → 431', () =>
    withServer(sqlite, async ({ server }) => {
      await server.start();
      const big = await exchange(server.port, (socket) => {
        socket.write(`GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
      });
      assert.match(big.text, /^HTTP\/1\.1 431/);
      const many = await exchange(server.port, (socket) => {
        const lines = Array.from({ length: 2000 }, (_, i) => `x-h${i}: ${'v'.repeat(8)}`).join('\r\n');
        socket.write(`GET /healthz HTTP/1.1\r\nhost: x\r\n${lines}\r\n\r\n`);
      });
      assert.match(many.text, /^HTTP\/1\.1 431/);
    }));

  test('H26 a slowloris client dribbling headers is closed at the headers timeout', () =>
    withServer(
      sqlite,
      async ({ server }) => {
        await server.start();
        const slow = await exchange(server.port, async (socket) => {
          socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n');
          for (let i = 0; i < 40 && !socket.destroyed; i++) {
            socket.write(`x-slow-${i}: y\r\n`);
            await new Promise((r) => setTimeout(r, 100));
          }
        });
        assert.ok(slow.closed, 'closed by the server');
        assert.ok(slow.ms < 3500, `within the headers timeout plus the check interval (${slow.ms} ms)`);
        assert.doesNotMatch(slow.text, /^HTTP\/1\.1 200/);
      },
      { headersTimeoutMs: 1000 },
    ));
});
