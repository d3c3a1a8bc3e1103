/**
 * What the extension adds to the server's acceptance counting (`infill.accepted`): plain
 * functions and data, so the unit tests run them under plain Node.
 *
 * A full accept (Tab) needs nothing from us: the language client turns each item's command
 * (`infill.accepted` {id, kind: "full"}) into the VS Code item's command, VS Code runs it on
 * accept, and the client's registration of the server's commands sends it as
 * `workspace/executeCommand`. A partial accept (Ctrl+Right: a word; "Accept Next Line") runs no
 * command, and the provider hook VS Code has for it (`handleDidPartiallyAcceptCompletionItem`)
 * is a proposed API, called only for extensions allowed to use proposals. So the extension binds
 * the partial-accept keys to its own commands, which run VS Code's and then tell the server
 * what was inserted: for that it remembers the suggestions it was given (`ShownSuggestions`)
 * and measures the text the step inserted (`partialArgument`).
 */

export const ACCEPTED_COMMAND = 'infill.accepted';
export const DELETE_STATS_COMMAND = 'infill.deleteStats';

export type PartialKind = 'word' | 'line';

/** The argument of `infill.accepted`: `length` = characters this step accepted (LF-normalised
 * code points, see `codePoints`). */
export interface AcceptArgument {
  id: string;
  kind: 'full' | PartialKind;
  length?: number;
}

/** The suggestion id of an item's command (the server's `infill.accepted` {id, ...}), if any. */
export function suggestionId(command: { command?: unknown; arguments?: unknown[] } | undefined): string | undefined {
  if (!command || command.command !== ACCEPTED_COMMAND || !Array.isArray(command.arguments)) {
    return undefined;
  }
  const arg = command.arguments[0] as { id?: unknown } | undefined;
  return arg && typeof arg.id === 'string' ? arg.id : undefined;
}

/** CRLF line breaks as LF: both sides of a comparison alike, and what `length` counts. */
function lf(text: string): string {
  return text.replace(/\r\n/g, '\n');
}

/** A partial accept's `length`: LF-normalised code points (a JavaScript string length counts
 * UTF-16 units, two for an emoji; a CRLF line break counts one). The server maps them onto its
 * copy of the suggestion, which keeps the document's line breaks. */
export function codePoints(text: string): number {
  return Array.from(lf(text)).length;
}

/** A suggestion as served: its id, its text, where it is inserted (LSP line / UTF-16 column). */
export interface Shown {
  id: string;
  text: string;
  line: number;
  character: number;
}

/**
 * The last suggestions served per document, newest last (bounded: a few per document, a few
 * documents), to find the one on screen when the user accepts part of it.
 */
export class ShownSuggestions {
  private readonly byDocument = new Map<string, Shown[]>();

  constructor(
    private readonly perDocument = 8,
    private readonly documents = 16,
  ) {}

  remember(uri: string, shown: Shown): void {
    const list = (this.byDocument.get(uri) ?? []).filter((s) => s.id !== shown.id || s.text !== shown.text);
    list.push(shown);
    this.byDocument.delete(uri); // re-inserted: the most recently used document goes last
    this.byDocument.set(uri, list.slice(-this.perDocument));
    while (this.byDocument.size > this.documents) {
      this.byDocument.delete(this.byDocument.keys().next().value as string);
    }
  }

  forget(uri: string): void {
    this.byDocument.delete(uri);
  }

  clear(): void {
    this.byDocument.clear();
  }

  /**
   * The newest suggestion of `uri` that goes on at the cursor, with its part not yet in the
   * document. `typed(shown)` reads the document from where `shown` is inserted to the cursor
   * (undefined when the cursor is not after that place).
   */
  atCursor(uri: string, typed: (shown: Shown) => string | undefined): { shown: Shown; rest: string } | undefined {
    const list = this.byDocument.get(uri) ?? [];
    for (let i = list.length - 1; i >= 0; i--) {
      const shown = list[i];
      const done = typed(shown);
      if (done === undefined) {
        continue;
      }
      const text = lf(shown.text);
      const prefix = lf(done);
      if (text.startsWith(prefix) && text.length > prefix.length) {
        return { shown, rest: text.slice(prefix.length) };
      }
    }
    return undefined;
  }
}

/**
 * The `infill.accepted` argument for a partial accept that inserted `inserted` where the rest
 * of a suggestion (`rest`) was shown; undefined when it inserted nothing of it, or all of it
 * (VS Code accepts the suggestion in full then, and runs its command itself).
 */
export function partialArgument(id: string, kind: PartialKind, rest: string, inserted: string): AcceptArgument | undefined {
  const text = lf(inserted);
  const remaining = lf(rest);
  if (!text || !remaining.startsWith(text) || text === remaining) {
    return undefined;
  }
  return { id, kind, length: codePoints(text) };
}
