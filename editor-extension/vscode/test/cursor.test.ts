import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CURSOR_DEBOUNCE_MS, CURSOR_NOTIFICATION, CursorReporter, Timers } from '../src/cursor';
import { statusSummary } from '../src/status';

/** A clock the test moves by hand. */
class FakeClock implements Timers {
  now = 0;
  private next = 1;
  private readonly due = new Map<number, { at: number; callback: () => void }>();

  set(callback: () => void, ms: number): unknown {
    const id = this.next++;
    this.due.set(id, { at: this.now + ms, callback });
    return id;
  }

  clear(handle: unknown): void {
    this.due.delete(handle as number);
  }

  get pending(): number {
    return this.due.size;
  }

  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const [id, timer] = [...this.due.entries()].filter(([, t]) => t.at <= until).sort(([, a], [, b]) => a.at - b.at)[0] ?? [];
      if (id === undefined || !timer) {
        break;
      }
      this.due.delete(id);
      this.now = timer.at;
      timer.callback();
    }
    this.now = until;
  }
}

function reporter(clock: FakeClock) {
  const sent: { place: string; at: number }[] = [];
  const r = new CursorReporter<string>((place) => sent.push({ place, at: clock.now }), CURSOR_DEBOUNCE_MS, clock);
  return { r, sent };
}

describe('infill/cursor', () => {
  it('is the method the server defines, debounced 150 ms', () => {
    assert.equal(CURSOR_NOTIFICATION, 'infill/cursor');
    assert.equal(CURSOR_DEBOUNCE_MS, 150);
  });

  it('sends where the cursor rests, once, 150 ms after the last move', () => {
    const clock = new FakeClock();
    const { r, sent } = reporter(clock);
    r.moved('a');
    clock.advance(100);
    r.moved('b'); // resets the debounce
    clock.advance(100);
    r.moved('c');
    clock.advance(149);
    assert.equal(sent.length, 0);
    assert.ok(r.waiting);
    clock.advance(1);
    assert.deepEqual(sent, [{ place: 'c', at: 350 }]);
    assert.ok(!r.waiting);
    assert.equal(clock.pending, 0, 'one timer at a time');
    clock.advance(1000);
    assert.equal(sent.length, 1, 'nothing more without a move');
  });

  it('sends again after the next rest', () => {
    const clock = new FakeClock();
    const { r, sent } = reporter(clock);
    r.moved('a');
    clock.advance(200);
    r.moved('b');
    clock.advance(200);
    assert.deepEqual(
      sent.map((s) => s.place),
      ['a', 'b'],
    );
  });

  it('cancel drops the pending place (editor change, client stopped)', () => {
    const clock = new FakeClock();
    const { r, sent } = reporter(clock);
    r.moved('a');
    clock.advance(100);
    r.cancel();
    assert.ok(!r.waiting);
    assert.equal(clock.pending, 0);
    clock.advance(1000);
    assert.equal(sent.length, 0);
    r.moved('b'); // still usable after a cancel
    clock.advance(150);
    assert.deepEqual(
      sent.map((s) => s.place),
      ['b'],
    );
  });

  it('sends nothing after dispose', () => {
    const clock = new FakeClock();
    const { r, sent } = reporter(clock);
    r.moved('a');
    r.dispose();
    r.moved('b');
    clock.advance(1000);
    assert.equal(sent.length, 0);
    assert.equal(clock.pending, 0);
  });

  it('works on real timers by default', async () => {
    const sent: string[] = [];
    const r = new CursorReporter<string>((place) => sent.push(place), 5);
    r.moved('a');
    r.moved('b');
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.deepEqual(sent, ['b']);
    r.dispose();
  });
});

describe('Show Server Status', () => {
  it('summarises infill/status with every total, warm-ups included', () => {
    const text = statusSummary({
      state: 'ready',
      message: 'm.gguf',
      model: { path: '/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf' },
      last: { ms: 3 },
      totals: { requests: 4, cacheHits: 1, modelCalls: 3, warmups: 2, warmupsDone: 1 },
    });
    assert.equal(
      text,
      'infill-lsp: ready, model qwen2.5-coder-0.5b-instruct-q4_k_m; totals: cacheHits=1, modelCalls=3, requests=4, warmups=2, warmupsDone=1',
    );
  });
  it('says why the model serves when the server says', () => {
    const text = statusSummary({
      state: 'ready',
      model: { path: '/m/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf', choice: { reason: 'a keystroke takes ~700 ms here' } },
    });
    assert.equal(text, 'infill-lsp: ready, model qwen2.5-coder-1.5b-instruct-q4_k_m (a keystroke takes ~700 ms here)');
  });
  it('says the state and message when there is no model', () => {
    assert.equal(statusSummary({ state: 'error', message: 'model file not found', model: null }), 'infill-lsp: error (model file not found)');
    assert.equal(statusSummary({ state: 'loading', message: '', totals: {} }), 'infill-lsp: loading');
    assert.equal(statusSummary(null), 'infill-lsp: unknown');
  });
});
