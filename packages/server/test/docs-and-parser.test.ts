/**
 * The API description (OpenAPI 3.1 at /openapi.json, Swagger UI at /docs from local files only)
 * and the strict JSON parser's edge cases (escapes, nesting at the limit, keys that only differ
 * after unescaping).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_JSON_DEPTH } from '@spindle/core';
import { parseJsonBody } from '../src/http/json-body.js';
import { BACKENDS, call, withServer } from './harness.js';

describe('API description', () => {
  test('/openapi.json is OpenAPI 3.1 listing the routes with their schemas; /docs serves local assets only', () =>
    withServer(BACKENDS[0]!, async ({ app }) => {
      const spec = await call(app, 'GET', '/openapi.json');
      assert.equal(spec.status, 200);
      assert.equal(spec.body.openapi, '3.1.0');
      for (const path of ['/api/v1/queues/{queue}/jobs', '/api/v1/jobs/{id}', '/api/v1/queues/{queue}/claim', '/api/v1/dlq/{queue}/replay', '/api/v1/events', '/healthz', '/metrics']) {
        assert.ok(spec.body.paths[path], `${path} is documented`);
      }
      const enqueue = spec.body.paths['/api/v1/queues/{queue}/jobs'].post;
      assert.ok(enqueue.requestBody.content['application/json'].schema.properties.name);
      assert.ok(enqueue.responses['201']);

      const page = await app.inject({ method: 'GET', url: '/docs' });
      assert.equal(page.statusCode, 200);
      assert.match(page.headers['content-security-policy'] as string, /script-src 'self'/);
      assert.doesNotMatch(page.body, /https?:\/\//, 'no CDN');
      const bundle = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
      assert.equal(bundle.statusCode, 200);
      assert.ok(bundle.body.length > 100_000);
      for (const file of ['package.json', '..%2Fpackage.json', 'index.html']) {
        assert.equal((await app.inject({ method: 'GET', url: `/docs/static/${file}` })).statusCode, 404, file);
      }
    }));
});

describe('strict JSON parser', () => {
  const problemCode = (text: string) => {
    try {
      parseJsonBody(Buffer.from(text));
      return null;
    } catch (err) {
      return (err as { code?: string }).code ?? 'thrown';
    }
  };

  test('accepts escapes, nested containers at the depth limit, and equal keys in different objects', () => {
    assert.deepEqual(parseJsonBody(Buffer.from('{"a\\"b":1,"c\\\\":{"a\\"b":2},"d":"\\\\\\""}')), { 'a"b': 1, 'c\\': { 'a"b': 2 }, d: '\\"' });
    const deep = `${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`;
    assert.ok(Array.isArray(parseJsonBody(Buffer.from(deep))));
    assert.deepEqual(parseJsonBody(Buffer.from('[{"k":1},{"k":2}]')), [{ k: 1 }, { k: 2 }]);
    assert.deepEqual(parseJsonBody(Buffer.from('{"a":[1,{"a":2}],"b":"a"}')), { a: [1, { a: 2 }], b: 'a' });
  });

  test('rejects one level too deep, duplicates after unescaping, NUL, lone surrogates and bad UTF-8', () => {
    assert.equal(problemCode(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`), 'json_too_deep');
    assert.equal(problemCode('{"a":1,"\\u0061":2}'), 'json_duplicate_key');
    assert.equal(problemCode('{"x":{"a":1,"b":{"c":1},"a":3}}'), 'json_duplicate_key');
    assert.equal(problemCode('["\\u0000"]'), 'invalid_text');
    assert.equal(problemCode('["\\udfff\\ud800"]'), 'invalid_text');
    assert.equal(problemCode('{"a":'), 'invalid_json');
    assert.equal(problemCode(''), 'invalid_json');
    assert.throws(() => parseJsonBody(Buffer.from([0x22, 0xff, 0x22])), (err: { code?: string }) => err.code === 'invalid_text');
  });
});
