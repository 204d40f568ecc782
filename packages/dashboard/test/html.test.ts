import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, html, raw, url } from '../src/html.js';

describe('html', () => {
  it('escapes every interpolation, including in attributes', () => {
    const name = `"><img src=x onerror=alert(1)><script>alert('x')</script>\``;
    const out = html`<a title="${name}">${name}</a>`.value;
    assert.ok(!out.includes('<img'), out);
    assert.ok(!out.includes('<script'), out);
    assert.equal(out, `<a title="${escapeHtml(name)}">${escapeHtml(name)}</a>`);
    assert.equal(escapeHtml(`&<>"'\``), '&amp;&lt;&gt;&quot;&#39;&#96;');
  });

  it('nests SafeHtml and arrays unescaped, drops null, undefined and false, keeps 0', () => {
    const items = ['<b>', 'c'].map((x) => html`<li>${x}</li>`);
    assert.equal(html`<ul>${items}</ul>${null}${undefined}${false}${0}`.value, '<ul><li>&lt;b&gt;</li><li>c</li></ul>0');
    assert.equal(html`${raw('<hr>')}`.value, '<hr>');
  });
});

describe('url', () => {
  it('encodes path segments and query values, leaving out empty values', () => {
    assert.equal(url(['/jobs', 'a/b?c']), '/jobs/a%2Fb%3Fc');
    assert.equal(url('/jobs', { q: 'a&b=c', state: undefined, name: '', limit: 50 }), '/jobs?q=a%26b%3Dc&limit=50');
    assert.equal(url(['/queues', 'javascript:alert(1)']), '/queues/javascript%3Aalert(1)');
    assert.equal(url('/'), '/');
  });

  it('refuses a first segment that is not a constant absolute path', () => {
    assert.throws(() => url('javascript:alert(1)'));
    assert.throws(() => url([]));
  });
});
