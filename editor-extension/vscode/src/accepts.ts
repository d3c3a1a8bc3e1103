/**
 * The editor side of the acceptance statistics (the logic is in acceptance.ts, under test):
 * the suggestions served (kept by the inline completion middleware), the partial-accept
 * commands our keybindings run, and the confirmation of "Delete Acceptance Statistics".
 */
import * as vscode from 'vscode';

import { ACCEPTED_COMMAND, AcceptArgument, partialArgument, PartialKind, ShownSuggestions, suggestionId } from './acceptance';

/** VS Code's partial accepts, which our keybindings run before telling the server. */
const ACCEPT_NEXT: Record<PartialKind, string> = {
  word: 'editor.action.inlineSuggest.acceptNextWord',
  line: 'editor.action.inlineSuggest.acceptNextLine',
};
/** How long a partial accept's edit may take to reach the extension host. */
const EDIT_WAIT_MS = 1_000;

type InlineResult = vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined;

export class Accepts {
  private readonly shown = new ShownSuggestions();

  constructor(
    private readonly output: vscode.LogOutputChannel,
    /** whether the running server serves the document */
    private readonly serves: (document: vscode.TextDocument) => boolean,
  ) {}

  /** Keep the suggestions of an inline completion answer (middleware). */
  remember(document: vscode.TextDocument, position: vscode.Position, result: InlineResult): void {
    const items = Array.isArray(result) ? result : (result?.items ?? []);
    for (const item of items) {
      const id = suggestionId(item.command as { command?: unknown; arguments?: unknown[] } | undefined);
      if (id && typeof item.insertText === 'string') {
        const start = item.range?.start ?? position;
        this.shown.remember(document.uri.toString(), { id, text: item.insertText, line: start.line, character: start.character });
      }
    }
  }

  forget(document: vscode.TextDocument): void {
    this.shown.forget(document.uri.toString());
  }

  clear(): void {
    this.shown.clear();
  }

  /**
   * Ctrl+Right (a word) / "Accept Next Line": VS Code's own partial accept, then, when the
   * suggestion on screen is ours, `infill.accepted` {id, kind, length} with what it inserted.
   * (VS Code runs no command for a partial accept; it runs the item's command when the step
   * takes all the rest, as a full accept.)
   */
  async acceptNext(kind: PartialKind): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const document = editor?.document;
    const cursor = editor?.selection.active;
    const found =
      document && cursor && this.serves(document)
        ? this.shown.atCursor(document.uri.toString(), (s) => {
            const start = new vscode.Position(s.line, s.character);
            return cursor.isBefore(start) ? undefined : document.getText(new vscode.Range(start, cursor));
          })
        : undefined;
    if (!document || !cursor || !found) {
      await vscode.commands.executeCommand(ACCEPT_NEXT[kind]);
      return;
    }
    const edit = nextEdit(document, cursor);
    await vscode.commands.executeCommand(ACCEPT_NEXT[kind]);
    const inserted = await edit;
    const arg = inserted === undefined ? undefined : partialArgument(found.shown.id, kind, found.rest, inserted);
    if (arg) {
      await this.send(arg);
    }
  }

  /** `infill.accepted` through the client's registration of it: the route of VS Code's own
   * accept (the middleware sees it, and refreshes the totals). */
  private async send(arg: AcceptArgument): Promise<void> {
    try {
      await vscode.commands.executeCommand(ACCEPTED_COMMAND, arg);
    } catch (error) {
      this.output.warn(`${ACCEPTED_COMMAND} not sent: ${error}`);
    }
  }

  /** "infill-lsp: Delete Acceptance Statistics" (the server's `infill.deleteStats`): asks
   * first; `run` sends the command. */
  async deleteStats(path: string | undefined, run: () => Promise<unknown>): Promise<unknown> {
    const yes = 'Delete';
    const answer = await vscode.window.showWarningMessage(
      'infill-lsp: delete the acceptance statistics?',
      {
        modal: true,
        detail: `The counts of the suggestions shown, accepted and kept (no code) in ${path || 'the stats file'}, and this session's totals.`,
      },
      yes,
    );
    if (answer !== yes) {
      return undefined;
    }
    const result = (await run()) as { deleted?: unknown; path?: unknown } | undefined;
    const where = typeof result?.path === 'string' ? result.path : path || 'the stats file';
    if (result?.deleted === true) {
      this.output.info(`acceptance statistics deleted: ${where}`);
      void vscode.window.showInformationMessage(`infill-lsp: acceptance statistics deleted (${where}).`);
    } else {
      void vscode.window.showWarningMessage(`infill-lsp: ${where} could not be deleted; see "infill-lsp: Show Log".`);
    }
    return result;
  }
}

/** The text the next change of `document` inserts at `at` (undefined: no change within
 * EDIT_WAIT_MS, or one elsewhere). */
function nextEdit(document: vscode.TextDocument, at: vscode.Position): Promise<string | undefined> {
  return new Promise((resolve) => {
    const done = (text: string | undefined) => {
      clearTimeout(timer);
      listener.dispose();
      resolve(text);
    };
    const timer = setTimeout(() => done(undefined), EDIT_WAIT_MS);
    const listener = vscode.workspace.onDidChangeTextDocument((event) => {
      if (event.document === document && event.contentChanges.length) {
        const change = event.contentChanges.find((c) => c.range.isEmpty && c.range.start.isEqual(at));
        done(change?.text);
      }
    });
  });
}
