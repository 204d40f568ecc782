/*
 * Spindle dashboard behaviour (no build step; loaded with `defer` after htmx, its SSE extension
 * and uPlot). Owns: the page's live stream and the uPlot charts. ADR 0018, context.ts.
 *
 * - Live stream: ONE EventSource per page on <body data-live="/ui/events?…">. Each event is
 *   re-dispatched on <body> as `live:<type, dots as dashes>` (live:tick, live:job-progress,
 *   live:dlq-alert-fired, …) with `detail` = the parsed JSON, for `hx-trigger="live:tick from:body"`.
 *   The stream is closed while the tab is hidden and reopened when it is shown, followed by a
 *   `live:tick` so every fragment refreshes once.
 * - Charts: every `.chart[data-chart]` (JSON {t:[unix s], series:[{label, values}]}) is drawn
 *   with uPlot when it appears (initial page and htmx swaps) and resized with the window.
 * - Select all: a `.select-all` checkbox in a table's head checks or clears every `ids` checkbox
 *   of that table (the rows of this page; whole-filter actions cover the rest).
 * No eval, no inline script or style: the page's CSP forbids them.
 */
(function () {
  'use strict';
  var TYPES = ['tick', 'reset', 'queue.paused', 'queue.resumed', 'queue.limits_changed', 'dlq.alert.fired', 'dlq.alert.cleared'];
  ['added', 'started', 'progress', 'completed', 'retrying', 'dead', 'cancelled', 'cancel_requested', 'snoozed', 'released', 'promoted', 'replayed', 'rescued', 'retried', 'removed', 'updated'].forEach(function (t) {
    TYPES.push('job.' + t);
  });

  var source = null;
  var stateEl = null;

  function dispatch(type, detail) {
    document.body.dispatchEvent(new CustomEvent('live:' + type.replace(/\./g, '-'), { bubbles: true, detail: detail }));
  }

  function setState(text) {
    stateEl = stateEl || document.getElementById('live-state');
    if (stateEl) stateEl.textContent = text;
  }

  function open() {
    var url = document.body && document.body.getAttribute('data-live');
    if (!url || source || typeof EventSource === 'undefined') return;
    source = new EventSource(url);
    source.onopen = function () { setState('live'); };
    source.onerror = function () { setState(source && source.readyState === 2 ? 'offline' : 'reconnecting…'); };
    TYPES.forEach(function (type) {
      source.addEventListener(type, function (e) {
        var detail = null;
        try { detail = JSON.parse(e.data); } catch (_) { detail = e.data; }
        dispatch(type, detail);
        if (type === 'reset') dispatch('tick', { queues: [] });
      });
    });
  }

  function close() {
    if (source) { source.close(); source = null; }
    setState('paused');
  }

  document.addEventListener('visibilitychange', function () {
    if (document.hidden) { close(); return; }
    open();
    dispatch('tick', { queues: [] });
  });
  window.addEventListener('pagehide', close);

  // ---- charts -----------------------------------------------------------------------------
  var COLORS = ['#2f7d32', '#1f5fa8', '#c62828', '#8e6c00', '#6a1b9a'];
  var charts = [];

  function draw(el) {
    if (el.getAttribute('data-drawn') === '1' || typeof uPlot === 'undefined') return;
    var spec;
    try { spec = JSON.parse(el.getAttribute('data-chart') || ''); } catch (_) { return; }
    if (!spec || !spec.t) return;
    el.setAttribute('data-drawn', '1');
    var data = [spec.t].concat(spec.series.map(function (s) { return s.values; }));
    var sparse = spec.series.some(function (s) { return s.values.some(function (v) { return v === null; }); });
    var opts = {
      width: Math.max(300, el.clientWidth || 600),
      height: 220,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [{}, { label: el.getAttribute('data-unit') || '' }],
      series: [{}].concat(spec.series.map(function (s, i) {
        // Latency series have gaps (minutes without samples): join them and mark the points.
        return sparse
          ? { label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, points: { show: true, size: 5 } }
          : { label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, points: { show: false } };
      })),
    };
    var plot = new uPlot(opts, data, el);
    charts.push({ el: el, plot: plot });
  }

  function drawAll(root) {
    var els = (root || document).querySelectorAll('.chart[data-chart]');
    for (var i = 0; i < els.length; i++) draw(els[i]);
    charts = charts.filter(function (c) { return document.body.contains(c.el); });
  }

  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      charts.forEach(function (c) { c.plot.setSize({ width: Math.max(300, c.el.clientWidth), height: 220 }); });
    }, 150);
  });

  function start() {
    if (typeof htmx !== 'undefined') htmx.onLoad(function (elt) { drawAll(elt); });
    else drawAll(document);
    if (!document.hidden) open(); else setState('paused');
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
  document.addEventListener('change', function (e) {
    var box = e.target;
    if (!box || !box.classList || !box.classList.contains('select-all')) return;
    var table = box.closest('table');
    if (!table) return;
    table.querySelectorAll('tbody input[type="checkbox"][name="ids"]').forEach(function (row) {
      row.checked = box.checked;
    });
  });
})();
