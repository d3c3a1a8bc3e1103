/**
 * Follows the server's "infill-lsp: loading model" `$/progress` for the status bar.
 *
 * The language client shows server progress itself (and a progress token takes one handler
 * only), so this tracker reads the incoming messages through the connection's message
 * strategy instead: it only looks, and always passes the message on.
 */

export const LOADING_TITLE = 'infill-lsp: loading model';

interface ProgressValue {
  kind?: string;
  title?: string;
  percentage?: number;
  message?: string;
}

export class LoadingProgress {
  private readonly tokens = new Set<string | number>();

  /** @param onPercent called with the percentage (begin / report), or undefined when there
   * is none yet (begin) or any more (end). */
  constructor(private readonly onPercent: (percent: number | undefined) => void) {}

  /** Look at one incoming JSON-RPC message. */
  observe(message: unknown): void {
    const m = message as { method?: unknown; params?: { token?: unknown; value?: unknown } };
    if (!m || m.method !== '$/progress' || !m.params) {
      return;
    }
    const token = m.params.token;
    if (typeof token !== 'string' && typeof token !== 'number') {
      return;
    }
    const value = (m.params.value ?? {}) as ProgressValue;
    if (value.kind === 'begin') {
      if (typeof value.title === 'string' && value.title.startsWith(LOADING_TITLE)) {
        this.tokens.add(token);
        // "0%" would look stuck while a model loads from the cache (no reports follow)
        this.onPercent(typeof value.percentage === 'number' && value.percentage > 0 ? value.percentage : undefined);
      }
      return;
    }
    if (!this.tokens.has(token)) {
      return;
    }
    if (value.kind === 'report') {
      if (typeof value.percentage === 'number') {
        this.onPercent(value.percentage);
      }
    } else if (value.kind === 'end') {
      this.tokens.delete(token);
      this.onPercent(undefined);
    }
  }
}
