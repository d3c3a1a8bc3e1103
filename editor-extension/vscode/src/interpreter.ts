/**
 * Which Python runs the server, and whether it can: pure logic plus one injectable process
 * call, so the unit tests run it under plain Node.
 */
import { execFile } from 'node:child_process';

export type Source = 'setting' | 'python-extension' | 'default';

export interface Choice {
  python: string;
  source: Source;
}

export const DEFAULT_PYTHON = process.platform === 'win32' ? 'python' : 'python3';

/** `infill.pythonPath`, else the Python extension's active interpreter, else `python3`. */
export function chooseInterpreter(setting: string | undefined, fromPythonExtension: string | undefined): Choice {
  if (setting && setting.trim()) {
    return { python: setting.trim(), source: 'setting' };
  }
  if (fromPythonExtension && fromPythonExtension.trim()) {
    return { python: fromPythonExtension.trim(), source: 'python-extension' };
  }
  return { python: DEFAULT_PYTHON, source: 'default' };
}

export function describeSource(source: Source): string {
  switch (source) {
    case 'setting':
      return 'from the infill.pythonPath setting';
    case 'python-extension':
      return "the Python extension's active interpreter";
    default:
      return 'the default (no infill.pythonPath, no Python extension)';
  }
}

/** The server command: a plain executable over stdio (no `--stdio` argument needed). */
export function serverCommand(python: string): { command: string; args: string[] } {
  return { command: python, args: ['-m', 'lsp_server'] };
}

/** Quote an argument for the user's shell (the install command is copied into a terminal). */
export function shellQuote(arg: string, platform: NodeJS.Platform = process.platform): string {
  if (/^[\w@%+=:,./\\-]+$/.test(arg)) {
    return arg;
  }
  if (platform === 'win32') {
    return `"${arg.replace(/"/g, '""')}"`;
  }
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function installCommand(python: string, platform: NodeJS.Platform = process.platform): string {
  const pkg = platform === 'win32' ? '"infill-lsp[model]"' : "'infill-lsp[model]'";
  return `${shellQuote(python, platform)} -m pip install ${pkg}`;
}

/** Imports lsp_server and looks (without importing them) for the server's heavy dependencies. */
export const CHECK_SCRIPT = [
  'import importlib.util as u, json, sys',
  'import lsp_server',
  "missing = [m for m in ('pygls', 'lsprotocol', 'llama_cpp') if u.find_spec(m) is None]",
  "print(json.dumps({'version': lsp_server.__version__, 'python': sys.version.split()[0], 'executable': sys.executable, 'missing': missing}))",
].join('\n');

export interface CheckOk {
  ok: true;
  version: string;
  pythonVersion: string;
  executable: string;
}

export interface CheckFailed {
  ok: false;
  /** What the user reads (notification and status bar tooltip). */
  message: string;
  /** The interpreter runs but lacks the server: offer the install command. */
  installable: boolean;
  detail: string;
}

export type CheckResult = CheckOk | CheckFailed;

export interface RunResult {
  error?: (Error & { code?: string | number | null; killed?: boolean }) | null;
  stdout: string;
  stderr: string;
}

/** Interpret the check's outcome (pure). */
export function interpretCheck(python: string, run: RunResult): CheckResult {
  const error = run.error;
  const stderr = (run.stderr || '').trim();
  if (error && (error.code === 'ENOENT' || error.code === 'EACCES')) {
    return {
      ok: false,
      installable: false,
      message: `infill-lsp: the Python interpreter "${python}" was not found (${error.code}). Set infill.pythonPath to a Python 3.10+ that has infill-lsp installed (${installCommand(python)}).`,
      detail: error.message,
    };
  }
  if (error && error.killed) {
    return {
      ok: false,
      installable: false,
      message: `infill-lsp: "${python}" did not answer in time while checking for lsp_server.`,
      detail: error.message,
    };
  }
  if (error) {
    const lastLine = stderr.split('\n').filter((l) => l.trim()).pop() ?? error.message;
    const noModule = /ModuleNotFoundError|No module named/.test(stderr);
    return {
      ok: false,
      installable: true,
      message: noModule
        ? `infill-lsp: "${python}" cannot import lsp_server. Install the server with: ${installCommand(python)}`
        : `infill-lsp: "${python}" cannot import lsp_server (${lastLine}). Install the server with: ${installCommand(python)}`,
      detail: stderr || error.message,
    };
  }
  let parsed: { version?: string; python?: string; executable?: string; missing?: string[] };
  try {
    parsed = JSON.parse(run.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return {
      ok: false,
      installable: false,
      message: `infill-lsp: unexpected answer from "${python}" while checking for lsp_server.`,
      detail: run.stdout + stderr,
    };
  }
  if (parsed.missing && parsed.missing.length > 0) {
    return {
      ok: false,
      installable: true,
      message: `infill-lsp: "${python}" has lsp_server but not its dependencies (${parsed.missing.join(', ')}). Reinstall with: ${installCommand(python)}`,
      detail: run.stdout,
    };
  }
  return {
    ok: true,
    version: parsed.version ?? '?',
    pythonVersion: parsed.python ?? '?',
    executable: parsed.executable ?? python,
  };
}

export type Runner = (command: string, args: string[], options: { cwd?: string; timeoutMs: number }) => Promise<RunResult>;

export const runProcess: Runner = (command, args, options) =>
  new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, timeout: options.timeoutMs, windowsHide: true, encoding: 'utf8' },
      (error, stdout, stderr) => resolve({ error, stdout: String(stdout), stderr: String(stderr) }),
    );
  });

/** `python -c "import lsp_server"` (plus a dependency look-up); never throws. */
export async function checkInterpreter(
  python: string,
  options: { cwd?: string; timeoutMs?: number } = {},
  run: Runner = runProcess,
): Promise<CheckResult> {
  let result: RunResult;
  try {
    result = await run(python, ['-c', CHECK_SCRIPT], { cwd: options.cwd, timeoutMs: options.timeoutMs ?? 30_000 });
  } catch (error) {
    result = { error: error as Error, stdout: '', stderr: '' };
  }
  return interpretCheck(python, result);
}

/** The Python extension's API, as far as we use it (duck-typed: no dependency on it). */
export interface PythonApi {
  ready?: Promise<unknown>;
  environments?: {
    getActiveEnvironmentPath?(resource?: unknown): { id?: string; path?: string } | undefined;
    resolveEnvironment?(env: unknown): Promise<{ executable?: { uri?: { fsPath?: string } } } | undefined>;
  };
  settings?: {
    getExecutionDetails?(resource?: unknown): { execCommand?: string[] | undefined } | undefined;
  };
}

/** The active interpreter from the Python extension's API (new API first, then the legacy one). */
export async function interpreterFromApi(api: PythonApi | undefined, resource?: unknown): Promise<string | undefined> {
  if (!api) {
    return undefined;
  }
  await api.ready;
  const environments = api.environments;
  if (environments?.getActiveEnvironmentPath) {
    const active = environments.getActiveEnvironmentPath(resource);
    if (active) {
      const resolved = environments.resolveEnvironment ? await environments.resolveEnvironment(active) : undefined;
      const executable = resolved?.executable?.uri?.fsPath;
      if (executable) {
        return executable;
      }
    }
  }
  const exec = api.settings?.getExecutionDetails?.(resource)?.execCommand;
  if (Array.isArray(exec) && exec.length === 1 && exec[0]) {
    return exec[0]; // several words (e.g. `conda run ...`) is not an interpreter path
  }
  return undefined;
}
