/**
 * The `infill.*` settings -> the server's settings model (camelCase on the wire).
 *
 * package.json's `contributes.configuration` is the single list on the client side: every
 * `infill.<key>` property is sent to the server except the client-only ones below. A test
 * checks that list against `lsp_server/settings.py` (keys, defaults, bounds), so they cannot
 * drift. No `vscode` import here: this runs under plain Node in the unit tests.
 */

export const SECTION = 'infill';

/** Settings of this extension that the server does not know (never sent to it). */
export const CLIENT_ONLY: readonly string[] = ['pythonPath', 'trace.server'];

/** Settings holding a file path: `~`, `${userHome}` and `${workspaceFolder}` are expanded. */
export const PATH_KEYS: readonly string[] = ['pythonPath', 'model', 'modelPath', 'fixPython', 'remoteVocab'];

export type Wire = Record<string, unknown>;

interface PackageJson {
  contributes?: { configuration?: { properties?: Record<string, unknown> } | unknown[] };
}

/** The server's wire keys, in package.json order: `infill.<key>` minus the client-only ones. */
export function serverKeys(packageJson: PackageJson): string[] {
  const configuration = packageJson.contributes?.configuration;
  const blocks = Array.isArray(configuration) ? configuration : [configuration];
  const keys: string[] = [];
  for (const block of blocks) {
    const properties = (block as { properties?: Record<string, unknown> } | undefined)?.properties;
    for (const name of Object.keys(properties ?? {})) {
      if (!name.startsWith(SECTION + '.')) {
        continue;
      }
      const key = name.slice(SECTION.length + 1);
      if (!CLIENT_ONLY.includes(key)) {
        keys.push(key);
      }
    }
  }
  return keys;
}

export interface Expansion {
  home: string;
  workspaceFolder?: string;
}

/** `~/x`, `${userHome}/x`, `${workspaceFolder}/x` -> absolute paths; anything else unchanged. */
export function expandPath(value: string, where: Expansion): string {
  let out = value.trim();
  if (out === '~' || out.startsWith('~/') || out.startsWith('~\\')) {
    out = where.home + out.slice(1);
  }
  out = out.split('${userHome}').join(where.home);
  if (where.workspaceFolder !== undefined) {
    out = out.split('${workspaceFolder}').join(where.workspaceFolder);
  }
  return out;
}

export interface Context extends Expansion {
  /** Untrusted workspace: the server never runs the document's docstring examples. */
  trusted: boolean;
}

/**
 * The settings object sent as `initializationOptions` (flat) and in
 * `workspace/didChangeConfiguration` (under `infill`). Every server key is sent, with its
 * current value (VS Code fills in package.json's default, equal to the server's), so removing
 * a setting resets it on the server too.
 */
export function serverSettings(
  keys: readonly string[],
  read: (key: string) => unknown,
  context: Context,
): Wire {
  const wire: Wire = {};
  for (const key of keys) {
    let value = read(key);
    if (value === undefined) {
      continue; // not contributed: the server keeps its default
    }
    if (PATH_KEYS.includes(key) && typeof value === 'string') {
      value = expandPath(value, context);
    }
    wire[key] = value;
  }
  if (!context.trusted && 'fixRunExamples' in wire) {
    wire.fixRunExamples = false;
  }
  return wire;
}

/** Whether a configuration change needs the server restarted (new interpreter). */
export function needsRestart(affects: (setting: string) => boolean): boolean {
  return affects(`${SECTION}.pythonPath`);
}

export interface Inspected {
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/**
 * The command that shows a setting where it can be changed: the workspace's settings when the
 * workspace sets it, the remote's in a remote window (machine-overridable settings such as
 * infill.pythonPath live there, not in the local user settings), else the user's.
 */
export function openSettingsCommand(key: string, inspected: Inspected | undefined, remoteName: string | undefined): { command: string; arg: unknown } {
  const query = `${SECTION}.${key}`;
  if (inspected?.workspaceFolderValue !== undefined || inspected?.workspaceValue !== undefined) {
    return { command: 'workbench.action.openWorkspaceSettings', arg: { query } };
  }
  if (remoteName) {
    return { command: 'workbench.action.openRemoteSettings', arg: { query } };
  }
  return { command: 'workbench.action.openSettings', arg: query };
}
