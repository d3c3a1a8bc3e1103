/**
 * The VS Code client of infill-lsp: starts `<python> -m lsp_server` over stdio with
 * vscode-languageclient (inline completions and the "Fix this function" code action are
 * handled by the language client itself), and adds the status bar item, the settings sync,
 * the palette commands, the `infill/cursor` notification (where the cursor rests) and the
 * partial accepts' `infill.accepted` (a full accept runs the item's own command; see
 * acceptance.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  Message,
  ServerOptions,
  State as ClientState,
} from 'vscode-languageclient/node';

import { ACCEPTED_COMMAND, DELETE_STATS_COMMAND } from './acceptance';
import { Accepts } from './accepts';
import { CURSOR_NOTIFICATION, CursorParams, CursorReporter } from './cursor';
import { fixArgument, fixOutcome, SERVER_FIX_COMMAND } from './fix';
import { CheckResult, checkInterpreter, chooseInterpreter, Choice, describeSource, installCommand, interpreterFromApi, PythonApi, serverCommand } from './interpreter';
import { LoadingProgress } from './progress';
import { expandPath, needsRestart, openSettingsCommand, SECTION, serverKeys, serverSettings, Wire } from './settings';
import { acceptanceFrom, fromNotification, render, Status, statusSummary } from './status';

const STATUS_CHANGED = 'infill/statusChanged';
const STATUS_REQUEST = 'infill/status';
const PYTHON_EXTENSION = 'ms-python.python';
const PYTHON_API_TIMEOUT_MS = 15_000;
/** Accepts that come together refresh the tooltip's totals once. */
const ACCEPTANCE_REFRESH_MS = 300;
/** The documents the server serves (didOpen, completions, `infill/cursor`). */
const DOCUMENT_SELECTOR = [{ scheme: 'file' }, { scheme: 'untitled' }];

let controller: Controller | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  controller = new Controller(context);
  context.subscriptions.push(controller);
  await controller.start();
}

export async function deactivate(): Promise<void> {
  await controller?.stopClient();
  controller = undefined;
}

interface FixOptions {
  instruction?: string;
  test?: string;
}

/** Where the cursor rests, for `infill/cursor`. */
interface CursorPlace {
  document: vscode.TextDocument;
  position: vscode.Position;
}

class Controller implements vscode.Disposable {
  private readonly output: vscode.LogOutputChannel;
  private readonly item: vscode.StatusBarItem;
  private readonly keys: string[];
  private readonly disposables: vscode.Disposable[] = [];
  private client: LanguageClient | undefined;
  private status: Status = { state: 'starting', message: '', model: null };
  /** start/stop run one at a time, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;
  private pythonListener: vscode.Disposable | undefined;
  private readonly cursor = new CursorReporter<CursorPlace>((place) => this.sendCursor(place));
  /** The suggestions served, the partial accepts, "Delete Acceptance Statistics". */
  private readonly accepts: Accepts;
  private acceptanceTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('infill-lsp', { log: true });
    this.item = vscode.window.createStatusBarItem('infill.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'infill-lsp';
    this.keys = serverKeys(context.extension.packageJSON);
    this.accepts = new Accepts(this.output, (document) => this.serves(document));
    this.show();
    this.item.show();

    this.disposables.push(
      this.output,
      this.item,
      vscode.commands.registerCommand('infill.toggle', () => this.toggle()),
      vscode.commands.registerCommand('infill.fixThisFunction', (options?: FixOptions) => this.fix(options ?? {})),
      vscode.commands.registerCommand('infill.fixThisFunctionWith', () => this.fixWithPrompt()),
      vscode.commands.registerCommand('infill.showLog', () => this.output.show(true)),
      vscode.commands.registerCommand('infill.showStatus', () => this.showStatus()),
      vscode.commands.registerCommand('infill.restart', () => this.restart()),
      vscode.commands.registerCommand('infill.acceptNextWord', () => this.accepts.acceptNext('word')),
      vscode.commands.registerCommand('infill.acceptNextLine', () => this.accepts.acceptNext('line')),
      vscode.workspace.onDidCloseTextDocument((document) => this.accepts.forget(document)),
      vscode.workspace.onDidChangeConfiguration((event) => this.onConfiguration(event)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.sendSettings()),
      vscode.window.onDidChangeTextEditorSelection((event) => this.cursorMoved(event.textEditor)),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        this.cursor.cancel();
        if (editor) {
          this.cursorMoved(editor); // the cursor now rests in this editor
        }
      }),
      this.cursor,
    );
  }

  dispose(): void {
    this.pythonListener?.dispose();
    clearTimeout(this.acceptanceTimer);
    for (const d of this.disposables) {
      d.dispose();
    }
  }

  // -- status bar ----------------------------------------------------------------------------
  private setStatus(status: Status): void {
    this.status = status;
    this.show();
  }

  private show(): void {
    const r = render(this.status);
    this.item.text = r.text;
    this.item.tooltip = r.tooltip;
    this.item.accessibilityInformation = { label: r.label };
    this.item.command = r.command;
    this.item.backgroundColor =
      r.background === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : r.background === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  // -- settings ------------------------------------------------------------------------------
  private folder(): string | undefined {
    return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  }

  private settings(): Wire {
    const config = vscode.workspace.getConfiguration(SECTION);
    return serverSettings(this.keys, (key) => config.get(key), {
      home: os.homedir(),
      workspaceFolder: this.folder(),
      trusted: vscode.workspace.isTrusted,
    });
  }

  private sendSettings(): void {
    const client = this.client;
    if (client && client.isRunning()) {
      client
        .sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: this.settings() } })
        .catch((error) => this.output.error(`settings not sent: ${error}`));
    }
  }

  private onConfiguration(event: vscode.ConfigurationChangeEvent): void {
    if (needsRestart((s) => event.affectsConfiguration(s))) {
      this.output.info('infill.pythonPath changed: restarting the server');
      void this.restart();
    } else if (event.affectsConfiguration(SECTION)) {
      this.sendSettings();
    }
  }

  // -- where the cursor rests (infill/cursor) ------------------------------------------------
  /** Whether the running server serves `document` (the client's own document selector). */
  private serves(document: vscode.TextDocument): boolean {
    const client = this.client;
    return !!client && client.isRunning() && !document.isClosed && vscode.languages.match(DOCUMENT_SELECTOR, document) > 0;
  }

  private cursorMoved(editor: vscode.TextEditor): void {
    // Only the editor the user is in (an edit elsewhere moves other editors' cursors too).
    if (editor !== vscode.window.activeTextEditor || !this.serves(editor.document)) {
      return;
    }
    this.cursor.moved({ document: editor.document, position: editor.selection.active });
  }

  /** After the debounce: the client in use then, and completions still on. */
  private sendCursor(place: CursorPlace): void {
    const client = this.client;
    if (!client || !this.serves(place.document) || !vscode.workspace.getConfiguration(SECTION).get<boolean>('enable', true)) {
      return;
    }
    const c2p = client.code2ProtocolConverter;
    const params: CursorParams = { textDocument: { uri: c2p.asUri(place.document.uri) }, position: c2p.asPosition(place.position) };
    client.sendNotification(CURSOR_NOTIFICATION, params).catch((error) => this.output.warn(`${CURSOR_NOTIFICATION} not sent: ${error}`));
  }

  // -- interpreter ---------------------------------------------------------------------------
  private async interpreter(): Promise<Choice> {
    const raw = vscode.workspace.getConfiguration(SECTION).get<string>('pythonPath') ?? '';
    const setting = raw.trim() ? expandPath(raw, { home: os.homedir(), workspaceFolder: this.folder() }) : '';
    let fromExtension: string | undefined;
    if (!setting) {
      fromExtension = await this.pythonFromExtension();
    }
    return chooseInterpreter(setting, fromExtension);
  }

  /** The Python extension's active interpreter, when it is installed (no hard dependency). */
  private async pythonFromExtension(): Promise<string | undefined> {
    const extension = vscode.extensions.getExtension<PythonApi>(PYTHON_EXTENSION);
    if (!extension) {
      return undefined;
    }
    try {
      const lookup = (async () => {
        const api = extension.isActive ? extension.exports : await extension.activate();
        this.watchPythonExtension(api);
        return interpreterFromApi(api, vscode.workspace.workspaceFolders?.[0]?.uri);
      })();
      const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), PYTHON_API_TIMEOUT_MS));
      return await Promise.race([lookup, timeout]);
    } catch (error) {
      this.output.warn(`the Python extension's interpreter is unavailable: ${error}`);
      return undefined;
    }
  }

  private watchPythonExtension(api: PythonApi | undefined): void {
    const environments = (api as { environments?: { onDidChangeActiveEnvironmentPath?: vscode.Event<unknown> } })?.environments;
    if (this.pythonListener || !environments?.onDidChangeActiveEnvironmentPath) {
      return;
    }
    this.pythonListener = environments.onDidChangeActiveEnvironmentPath(() => {
      const own = vscode.workspace.getConfiguration(SECTION).get<string>('pythonPath');
      if (!own || !own.trim()) {
        this.output.info("the Python extension's interpreter changed: restarting the server");
        void this.restart();
      }
    });
  }

  private storageDir(): string | undefined {
    // The server runs from here, not from the workspace: `python -m lsp_server` puts the
    // working directory first on sys.path, and a workspace folder named lsp_server must not
    // shadow the installed server.
    const dir = this.context.globalStorageUri.fsPath;
    try {
      fs.mkdirSync(dir, { recursive: true });
      return dir;
    } catch {
      return undefined;
    }
  }

  private async reportCheck(choice: Choice, check: CheckResult): Promise<void> {
    if (check.ok) {
      return;
    }
    this.output.error(`${check.message}\n${check.detail}`);
    const openSettings = 'Open Settings';
    const copy = 'Copy Install Command';
    const log = 'Show Log';
    const buttons = check.installable ? [openSettings, copy, log] : [openSettings, log];
    const answer = await vscode.window.showErrorMessage(`${check.message} (Python: ${describeSource(choice.source)})`, ...buttons);
    if (answer === openSettings) {
      const inspected = vscode.workspace.getConfiguration(SECTION).inspect('pythonPath');
      const { command, arg } = openSettingsCommand('pythonPath', inspected, vscode.env.remoteName);
      try {
        await vscode.commands.executeCommand(command, arg);
      } catch {
        await vscode.commands.executeCommand('workbench.action.openSettings', `${SECTION}.pythonPath`);
      }
    } else if (answer === copy) {
      await vscode.env.clipboard.writeText(installCommand(choice.python));
      void vscode.window.showInformationMessage('infill-lsp: install command copied; run it in a terminal, then "infill-lsp: Restart Server".');
    } else if (answer === log) {
      this.output.show(true);
    }
  }

  // -- client lifecycle ----------------------------------------------------------------------
  start(): Promise<void> {
    const run = this.queue.then(() => this.doStart());
    this.queue = run.catch(() => undefined);
    return run;
  }

  stopClient(): Promise<void> {
    const run = this.queue.then(() => this.doStop());
    this.queue = run.catch(() => undefined);
    return run;
  }

  async restart(): Promise<void> {
    await this.stopClient();
    await this.start();
  }

  private async doStart(): Promise<void> {
    if (this.client) {
      return;
    }
    this.setStatus({ state: 'starting', message: '', model: null });
    const choice = await this.interpreter();
    const cwd = this.storageDir();
    this.output.info(`Python: ${choice.python} (${describeSource(choice.source)})`);
    const check = await checkInterpreter(choice.python, { cwd });
    if (!check.ok) {
      this.setStatus({ state: 'stopped', message: check.message, model: null, python: choice.python });
      void this.reportCheck(choice, check);
      return;
    }
    this.output.info(`infill-lsp ${check.version} on Python ${check.pythonVersion} (${check.executable})`);
    this.setStatus({ state: 'starting', message: '', model: null, python: choice.python });

    const { command, args } = serverCommand(choice.python);
    // A plain executable over stdio: no `transport` (TransportKind.stdio would append --stdio).
    const serverOptions: ServerOptions = { command, args, options: { cwd, env: { ...process.env, PYTHONUNBUFFERED: '1' } } };
    const progress = new LoadingProgress((percent) => {
      // The server says `loading` (infill/statusChanged) before it begins the progress.
      if (this.status.state === 'loading') {
        this.setStatus({ ...this.status, state: 'loading', percent });
      }
    });
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENT_SELECTOR,
      initializationOptions: this.settings(),
      outputChannel: this.output,
      connectionOptions: {
        maxRestartCount: 4,
        messageStrategy: {
          handleMessage: (message: Message, next: (message: Message) => void | Promise<void>) => {
            try {
              progress.observe(message);
            } catch (error) {
              this.output.warn(`progress tracking: ${error}`);
            }
            return next(message);
          },
        },
      },
      middleware: {
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          const result = await next(document, position, context, token);
          this.accepts.remember(document, position, result);
          return result;
        },
        // The client registers the server's commands (infill.accepted, infill.deleteStats,
        // infill.fixFunction) as VS Code commands; they all come through here.
        executeCommand: async (command, args, next) => {
          if (command === DELETE_STATS_COMMAND) {
            const result = await this.accepts.deleteStats(this.status.acceptance?.path, () => Promise.resolve(next(command, args)));
            this.acceptanceChanged();
            return result;
          }
          const result = await next(command, args);
          if (command === ACCEPTED_COMMAND) {
            this.output.debug(`${ACCEPTED_COMMAND} ${JSON.stringify(args)}: ${JSON.stringify(result)}`);
            this.acceptanceChanged();
          }
          return result;
        },
      },
      initializationFailedHandler: (error) => {
        this.setStatus({ state: 'stopped', message: `initialize failed: ${error}`, model: null, python: choice.python });
        return false;
      },
    };
    const client = new LanguageClient('infill', 'infill-lsp', serverOptions, clientOptions);
    this.client = client;
    client.onNotification(STATUS_CHANGED, (params: unknown) => {
      this.setStatus(fromNotification(params, this.status));
      this.acceptanceChanged();
    });
    client.onDidChangeState((event) => {
      if (event.newState === ClientState.Stopped && !this.stopping && this.client === client) {
        this.setStatus({
          state: 'stopped',
          message: 'the server process exited; see "infill-lsp: Show Log"',
          model: null,
          python: choice.python,
        });
        void vscode.commands.executeCommand('setContext', 'infill.running', false);
      } else if (event.newState === ClientState.Running) {
        void vscode.commands.executeCommand('setContext', 'infill.running', true);
      }
    });
    try {
      await client.start();
    } catch (error) {
      this.output.error(`the server did not start: ${error}`);
      this.setStatus({ state: 'stopped', message: `the server did not start: ${error}`, model: null, python: choice.python });
      void vscode.window.showErrorMessage(`infill-lsp: the server did not start: ${error}`, 'Show Log').then((a) => a && this.output.show(true));
      return;
    }
    // The server pushes every state change; ask once too, in case one went by before the
    // handler was in place.
    try {
      const now = await client.sendRequest<{ state?: string; message?: string; model?: unknown }>(STATUS_REQUEST, {});
      if (this.status.state === 'starting') {
        this.setStatus(fromNotification(now, this.status));
      }
      this.setStatus({ ...this.status, acceptance: acceptanceFrom(now) ?? this.status.acceptance });
    } catch (error) {
      this.output.warn(`infill/status: ${error}`);
    }
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    if (!client) {
      return;
    }
    this.stopping = true;
    this.cursor.cancel();
    this.accepts.clear();
    try {
      if (client.needsStop()) {
        await client.stop(5_000);
      }
    } catch (error) {
      this.output.warn(`stopping the server: ${error}`);
    } finally {
      await client.dispose().catch(() => undefined);
      this.client = undefined;
      this.stopping = false;
      void vscode.commands.executeCommand('setContext', 'infill.running', false);
    }
  }

  // -- acceptance totals (the tooltip) -----------------------------------------------------
  /** Ask for the acceptance totals again soon, once for accepts that come together. */
  private acceptanceChanged(): void {
    clearTimeout(this.acceptanceTimer);
    this.acceptanceTimer = setTimeout(() => void this.refreshAcceptance(), ACCEPTANCE_REFRESH_MS);
  }

  private async refreshAcceptance(): Promise<void> {
    const client = this.client;
    if (!client || !client.isRunning()) {
      return;
    }
    try {
      const acceptance = acceptanceFrom(await client.sendRequest<unknown>(STATUS_REQUEST, {}));
      if (acceptance && this.client === client) {
        this.setStatus({ ...this.status, acceptance });
      }
    } catch (error) {
      this.output.warn(`${STATUS_REQUEST}: ${error}`);
    }
  }

  // -- commands ------------------------------------------------------------------------------
  private async toggle(): Promise<void> {
    const config = vscode.workspace.getConfiguration(SECTION);
    const enabled = config.get<boolean>('enable', true);
    const inspected = config.inspect<boolean>('enable');
    // Change the value where it is set, so the toggle always takes effect.
    const target =
      inspected?.workspaceFolderValue !== undefined
        ? vscode.ConfigurationTarget.WorkspaceFolder
        : inspected?.workspaceValue !== undefined
          ? vscode.ConfigurationTarget.Workspace
          : vscode.ConfigurationTarget.Global;
    await config.update('enable', !enabled, target);
    this.output.info(`completions ${enabled ? 'off' : 'on'}`);
  }

  /** "infill-lsp: Show Server Status": `infill/status` in one line (totals included), the
   * whole answer in the log. */
  private async showStatus(): Promise<void> {
    const client = this.client;
    if (!client || !client.isRunning()) {
      void vscode.window.showErrorMessage(`infill-lsp: the server is not running (${this.status.message || this.status.state}).`, 'Show Log').then(
        (a) => a && this.output.show(true),
      );
      return;
    }
    try {
      const answer = await client.sendRequest<unknown>(STATUS_REQUEST, {});
      this.output.info(`${STATUS_REQUEST}: ${JSON.stringify(answer)}`);
      this.setStatus({ ...this.status, acceptance: acceptanceFrom(answer) ?? this.status.acceptance });
      void vscode.window.showInformationMessage(statusSummary(answer), 'Show Log').then((a) => a && this.output.show(true));
    } catch (error) {
      this.output.warn(`${STATUS_REQUEST}: ${error}`);
      void vscode.window.showWarningMessage(`infill-lsp: ${STATUS_REQUEST} failed: ${error}`);
    }
  }

  private async fixWithPrompt(): Promise<void> {
    const instruction = await vscode.window.showInputBox({
      title: 'infill-lsp: Fix this function',
      prompt: 'What should change? (optional)',
      placeHolder: 'e.g. handle empty lists',
    });
    if (instruction === undefined) {
      return;
    }
    let test: string | undefined;
    if (vscode.window.activeTextEditor?.document.languageId === 'python') {
      test = await vscode.window.showInputBox({
        title: 'infill-lsp: Fix this function',
        prompt: 'Failing pytest test(s) the fix must make pass (optional)',
        placeHolder: 'e.g. tests/test_stats.py::test_total_empty (node ids relative to the workspace folder; several separated by spaces)',
      });
      if (test === undefined) {
        return;
      }
    }
    await this.fix({ instruction, test });
  }

  private async fix(options: FixOptions): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showWarningMessage('infill-lsp: open a file and put the cursor inside a function first.');
      return;
    }
    const client = this.client;
    if (!client || !client.isRunning()) {
      void vscode.window.showErrorMessage(`infill-lsp: the server is not running (${this.status.message || this.status.state}).`, 'Show Log').then(
        (a) => a && this.output.show(true),
      );
      return;
    }
    const position = editor.selection.active;
    const argument = fixArgument(editor.document.uri.toString(), position.line, position.character, options.instruction, options.test);
    let result: unknown;
    try {
      result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'infill-lsp: fixing this function…', cancellable: true },
        (_progress, token) => client.sendRequest(ExecuteCommandRequest.type, { command: SERVER_FIX_COMMAND, arguments: [argument] }, token),
      );
    } catch (error) {
      const text = /cancel/i.test(String(error)) ? 'infill-lsp: fix cancelled' : `infill-lsp: fix failed: ${error}`;
      this.output.warn(text);
      void vscode.window.showWarningMessage(text);
      return;
    }
    const outcome = fixOutcome(result);
    this.output.info(outcome.text);
    if (outcome.level === 'info') {
      void vscode.window.showInformationMessage(outcome.text);
    } else {
      void vscode.window.showWarningMessage(outcome.text);
    }
  }
}
