import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { fixArgument, fixOutcome } from '../src/fix';
import { LoadingProgress, LOADING_TITLE } from '../src/progress';
import { acceptanceFrom, acceptanceLines, fromNotification, modelName, render, Status, statusSummary } from '../src/status';

const MODEL = {
  path: '/home/me/.cache/infill-lsp/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf',
  verified: true,
  source: 'embedded',
  size: 397_808_192,
  dialect: 'qwen',
  nCtx: 4096,
};

function status(over: Partial<Status>): Status {
  return { state: 'starting', message: '', model: null, ...over };
}

describe('status bar text', () => {
  it('starting', () => {
    const r = render(status({ state: 'starting', python: '/v/bin/python' }));
    assert.equal(r.text, '$(sync~spin) infill');
    assert.match(r.tooltip, /Python: \/v\/bin\/python/);
    assert.equal(r.command, 'infill.toggle');
  });
  it('loading, with and without a percentage', () => {
    assert.equal(render(status({ state: 'loading', percent: 42.4 })).text, '$(sync~spin) infill 42%');
    assert.equal(render(status({ state: 'loading', percent: 42.4 })).label, 'infill-lsp: loading model 42%');
    assert.equal(render(status({ state: 'loading' })).text, '$(sync~spin) infill');
    assert.equal(render(status({ state: 'loading', percent: 130 })).text, '$(sync~spin) infill 100%');
  });
  it('ready shows the model name', () => {
    const r = render(status({ state: 'ready', message: 'qwen2.5-coder-0.5b-instruct-q4_k_m.gguf', model: MODEL }));
    assert.equal(r.text, '$(check) infill: qwen2.5-coder-0.5b-instruct-q4_k_m');
    assert.equal(r.label, 'infill-lsp: ready, model qwen2.5-coder-0.5b-instruct-q4_k_m');
    assert.match(r.tooltip, /Model: \/home\/me\/.cache\/infill-lsp\/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf/);
    assert.match(r.tooltip, /FIM dialect: qwen/);
    assert.match(r.tooltip, /Size: 379 MiB \(checksum verified\)/);
    assert.equal(r.background, undefined);
  });
  it('ready says why this model serves and what drafts', () => {
    const model = {
      ...MODEL,
      speculation: 'lookup',
      choice: { setting: 'auto', picked: '0.5b', reason: 'measuring the 1.5B in idle time', measuring: true },
    };
    const r = render(status({ state: 'ready', message: 'm.gguf', model }));
    assert.match(r.tooltip, /\nSpeculation: lookup\n/);
    assert.match(r.tooltip, /\nWhy this model: measuring the 1\.5B in idle time\n/);
    assert.doesNotMatch(render(status({ state: 'ready', model: MODEL })).tooltip, /Why this model|Speculation/);
  });

  it('ready without model details falls back to the message', () => {
    assert.equal(render(status({ state: 'ready', message: 'm.gguf' })).text, '$(check) infill: m');
    assert.equal(modelName(null, ''), '');
    assert.equal(render(status({ state: 'ready' })).text, '$(check) infill: ready');
  });
  it('shortens long model names', () => {
    const name = modelName({ path: 'C:\\models\\' + 'x'.repeat(60) + '.gguf' });
    assert.equal(name.length, 40);
    assert.ok(name.endsWith('…'));
  });
  it('error carries the message', () => {
    const r = render(status({ state: 'error', message: 'model file not found: /x.gguf' }));
    assert.equal(r.text, '$(error) infill: error');
    assert.equal(r.label, 'infill-lsp: error: model file not found: /x.gguf');
    assert.match(r.tooltip, /model file not found/);
    assert.equal(r.background, 'error');
  });
  it('disabled', () => {
    const r = render(status({ state: 'disabled' }));
    assert.equal(r.text, '$(circle-slash) infill: off');
    assert.equal(r.label, 'infill-lsp: disabled');
    assert.equal(r.command, 'infill.toggle');
  });
  it('stopped: a click restarts', () => {
    const r = render(status({ state: 'stopped', message: 'cannot import lsp_server' }));
    assert.equal(r.command, 'infill.restart');
    assert.equal(r.background, 'error');
  });
});

describe('infill/statusChanged', () => {
  it('maps the params', () => {
    const s = fromNotification({ state: 'ready', message: 'm.gguf', model: MODEL }, status({ python: 'py' }));
    assert.deepEqual(s, { state: 'ready', message: 'm.gguf', model: MODEL, percent: undefined, python: 'py', acceptance: undefined });
  });
  it('keeps the load percentage across loading notifications, drops it after', () => {
    const loading = fromNotification({ state: 'loading', message: '', model: null }, status({ state: 'loading', percent: 30 }));
    assert.equal(loading.percent, 30);
    assert.equal(fromNotification({ state: 'loading' }, status({ state: 'ready' })).percent, undefined);
    assert.equal(fromNotification({ state: 'error', message: 'x' }, loading).percent, undefined);
  });
  it('survives junk', () => {
    const s = fromNotification({ state: 'bogus', message: 3, model: 'x' }, status({ state: 'ready' }));
    assert.deepEqual(s, { state: 'ready', message: '', model: null, percent: undefined, python: undefined, acceptance: undefined });
    assert.equal(fromNotification(null, status({})).state, 'starting');
  });
});

// infill/status's `acceptance` (lsp_server/services/acceptance.py, stats/summary.py)
const TOTALS = {
  shown: 40,
  accepted: 12,
  partial: 3,
  typedThrough: 5,
  rejected: 20,
  rate: 0.3,
  charsAccepted: 410,
  charsKept30s: 400,
  charsKept5m: 348,
  charsKeptSave: 0,
  keptRate5m: 0.8488,
  p50LatencyMs: 212.5,
};
const ACCEPTANCE = {
  open: 1,
  session: { ...TOTALS, shown: 3, accepted: 1, partial: 0, rate: 0.3333, keptRate5m: null },
  enabled: true,
  path: '/home/me/.cache/infill-lsp/stats.sqlite3',
  fault: '',
  stored: TOTALS,
};

describe('acceptance in the tooltip', () => {
  it('this session and all sessions', () => {
    const a = acceptanceFrom({ state: 'ready', acceptance: ACCEPTANCE });
    assert.deepEqual(acceptanceLines(a), [
      'Accepted 1 of 3 this session (33%)',
      'Accepted 12 of 40 in all (30%), 3 partly, kept 85% after 5 min',
    ]);
    const r = render(status({ state: 'ready', message: 'm.gguf', model: MODEL, acceptance: a }));
    assert.match(r.tooltip, /\nAccepted 1 of 3 this session \(33%\)\nAccepted 12 of 40 in all \(30%\), 3 partly, kept 85% after 5 min\nClick to turn completions off\.$/);
    assert.match(render(status({ state: 'disabled', acceptance: a })).tooltip, /\nAccepted 12 of 40 in all/);
  });
  it('before anything was shown, before the file was read, with stats off, with a fault', () => {
    const empty = { ...TOTALS, shown: 0, accepted: 0, partial: 0, rate: 0, keptRate5m: null };
    assert.deepEqual(acceptanceLines(acceptanceFrom({ acceptance: { ...ACCEPTANCE, session: empty, stored: null } })), [
      'Accepted 0 of 0 this session',
    ]);
    assert.deepEqual(acceptanceLines(acceptanceFrom({ acceptance: { ...ACCEPTANCE, stored: empty } })), ['Accepted 1 of 3 this session (33%)']);
    assert.deepEqual(acceptanceLines(acceptanceFrom({ acceptance: { ...ACCEPTANCE, enabled: false, stored: null } })), [
      'Accepted 1 of 3 this session (33%)',
      'Acceptance statistics are not stored (infill.stats is off)',
    ]);
    assert.deepEqual(acceptanceLines(acceptanceFrom({ acceptance: { ...ACCEPTANCE, fault: 'the stats file is locked' } })), [
      'Accepted 1 of 3 this session (33%)',
      'Acceptance statistics: the stats file is locked',
    ]);
  });
  it('nothing from a server without it, or from junk', () => {
    assert.equal(acceptanceFrom({ state: 'ready' }), undefined);
    assert.equal(acceptanceFrom(null), undefined);
    assert.deepEqual(acceptanceLines(undefined), []);
    const junk = acceptanceFrom({ acceptance: { session: { shown: 'x', accepted: 2 }, stored: 5 } });
    assert.deepEqual(acceptanceLines(junk), ['Accepted 2 of 0 this session']);
    assert.doesNotMatch(render(status({ state: 'ready' })).tooltip, /Accepted/);
  });
  it('survives a status change (the notification carries none)', () => {
    const a = acceptanceFrom({ acceptance: ACCEPTANCE });
    assert.equal(fromNotification({ state: 'disabled' }, status({ state: 'ready', acceptance: a })).acceptance, a);
  });
  it('"Show Server Status" lists this session\'s totals before the others', () => {
    const text = statusSummary({ state: 'ready', message: 'm.gguf', model: MODEL, acceptance: ACCEPTANCE, totals: { requests: 4 } });
    assert.match(text, /; acceptance: shown=3, accepted=1, partial=0, typedThrough=5, rejected=20, rate=0\.3333, charsAccepted=410, charsKept5m=348, keptRate5m=null; totals: requests=4$/);
  });
});

describe('LoadingProgress', () => {
  const progress = (token: string, value: object) => ({ jsonrpc: '2.0', method: '$/progress', params: { token, value } });

  it('follows the loading-model progress only', () => {
    const seen: (number | undefined)[] = [];
    const tracker = new LoadingProgress((p) => seen.push(p));
    tracker.observe(progress('fix', { kind: 'begin', title: 'infill-lsp: fixing `total`', percentage: 0 }));
    tracker.observe(progress('fix', { kind: 'report', percentage: 50 }));
    tracker.observe(progress('load', { kind: 'begin', title: LOADING_TITLE, percentage: 0 }));
    tracker.observe(progress('load', { kind: 'report', message: 'preparing model 37%', percentage: 37 }));
    tracker.observe(progress('load', { kind: 'report', message: 'no percentage' }));
    tracker.observe({ jsonrpc: '2.0', method: 'window/logMessage', params: { type: 3, message: 'x' } });
    tracker.observe({ jsonrpc: '2.0', id: 1, result: null });
    tracker.observe(progress('load', { kind: 'end', message: 'ready' }));
    tracker.observe(progress('load', { kind: 'report', percentage: 99 })); // after the end
    tracker.observe(progress('fix', { kind: 'end' }));
    assert.deepEqual(seen, [undefined, 37, undefined]);
  });
  it('ignores malformed messages', () => {
    const tracker = new LoadingProgress(() => assert.fail('no callback'));
    tracker.observe(undefined);
    tracker.observe({ method: '$/progress' });
    tracker.observe({ method: '$/progress', params: { token: {}, value: { kind: 'begin', title: LOADING_TITLE } } });
  });
});

describe('Fix this function', () => {
  it('builds the server command argument', () => {
    assert.deepEqual(fixArgument('file:///a.py', 9, 4), { uri: 'file:///a.py', start: [9, 4] });
    assert.deepEqual(fixArgument('file:///a.py', 9, 4, '  handle empty lists ', ''), {
      uri: 'file:///a.py',
      start: [9, 4],
      instruction: 'handle empty lists',
    });
    assert.deepEqual(fixArgument('file:///a.py', 0, 0, undefined, 'tests/test_a.py::test_total'), {
      uri: 'file:///a.py',
      start: [0, 0],
      test: 'tests/test_a.py::test_total',
    });
  });
  it('shows the answer', () => {
    assert.deepEqual(fixOutcome({ applied: true, message: 'fixed: 2/2 examples pass' }), {
      level: 'info',
      text: 'infill-lsp: fixed: 2/2 examples pass',
    });
    assert.deepEqual(fixOutcome({ applied: false, message: 'the cursor is not inside a function' }), {
      level: 'warning',
      text: 'infill-lsp: no change made: the cursor is not inside a function',
    });
    assert.equal(fixOutcome(null).text, 'infill-lsp: no change made: no answer from the server');
  });
});
