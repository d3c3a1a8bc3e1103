import * as fs from 'node:fs';
import * as path from 'node:path';

/** The extension's directory (holds package.json), from out/unit/test/ or test/. */
export function extensionDir(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'test') {
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error('package.json not found above ' + __dirname);
    }
    dir = parent;
  }
  return dir;
}

/** The repository root (holds lsp_server/settings.py). */
export function repoRoot(): string {
  let dir = extensionDir();
  while (!fs.existsSync(path.join(dir, 'lsp_server', 'settings.py'))) {
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error('lsp_server/settings.py not found above ' + extensionDir());
    }
    dir = parent;
  }
  return dir;
}

export function packageJson(): {
  contributes: { configuration: { properties: Record<string, Record<string, unknown>> }; commands: { command: string }[] };
  [key: string]: unknown;
} {
  return JSON.parse(fs.readFileSync(path.join(extensionDir(), 'package.json'), 'utf8'));
}

/** A Python for the drift test: $INFILL_PYTHON, the repo's .venv, else python3. */
export function python(): string {
  if (process.env.INFILL_PYTHON) {
    return process.env.INFILL_PYTHON;
  }
  const venv = path.join(repoRoot(), '.venv', process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
  return fs.existsSync(venv) ? venv : process.platform === 'win32' ? 'python' : 'python3';
}
