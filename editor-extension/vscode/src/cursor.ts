/**
 * Tells the server where the cursor rests: `infill/cursor` {textDocument: {uri}, position}
 * (UTF-16 position, like every LSP position), CURSOR_DEBOUNCE_MS after the last move. The
 * server then evaluates the prompt for that place in idle time (a warm-up, cancelled by any
 * real request), so the first suggestion typed there comes sooner.
 *
 * Only the debounce lives here (no `vscode` import, so the unit tests run it under plain
 * Node with a fake clock); extension.ts feeds it the moves and sends the notification.
 */

export const CURSOR_NOTIFICATION = 'infill/cursor';
export const CURSOR_DEBOUNCE_MS = 150;

export interface CursorParams {
  textDocument: { uri: string };
  position: { line: number; character: number };
}

/** setTimeout / clearTimeout, injectable for the tests. */
export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const NODE_TIMERS: Timers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Debounces cursor moves: `moved(place)` (re)starts the timer; when it fires, `send(place)`
 * gets the last place. `T` is whatever identifies the place (extension.ts: the editor and its
 * active position), converted to protocol params at send time, when the client in use is known.
 */
export class CursorReporter<T> {
  private handle: unknown;
  private pending: { place: T } | undefined;
  private disposed = false;

  constructor(
    private readonly send: (place: T) => void,
    private readonly delayMs: number = CURSOR_DEBOUNCE_MS,
    private readonly timers: Timers = NODE_TIMERS,
  ) {}

  /** The cursor moved to `place`: send it once it rests there for the debounce. */
  moved(place: T): void {
    if (this.disposed) {
      return;
    }
    this.cancel();
    this.pending = { place };
    this.handle = this.timers.set(() => this.fire(), this.delayMs);
  }

  /** Drop the pending place, if any (editor changed, client stopped). */
  cancel(): void {
    if (this.handle !== undefined) {
      this.timers.clear(this.handle);
      this.handle = undefined;
    }
    this.pending = undefined;
  }

  /** True while a place waits for its debounce. */
  get waiting(): boolean {
    return this.pending !== undefined;
  }

  dispose(): void {
    this.cancel();
    this.disposed = true;
  }

  private fire(): void {
    const pending = this.pending;
    this.handle = undefined;
    this.pending = undefined;
    if (pending && !this.disposed) {
      this.send(pending.place);
    }
  }
}
