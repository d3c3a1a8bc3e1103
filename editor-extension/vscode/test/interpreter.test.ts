import assert from 'node:assert/strict';
import * as os from 'node:os';
import { describe, it } from 'node:test';

import {
  checkInterpreter,
  chooseInterpreter,
  DEFAULT_PYTHON,
  installCommand,
  interpretCheck,
  interpreterFromApi,
  runProcess,
  serverCommand,
  shellQuote,
} from '../src/interpreter';
import { python } from './helpers';

describe('chooseInterpreter', () => {
  it('prefers infill.pythonPath', () => {
    assert.deepEqual(chooseInterpreter('/opt/py/bin/python', '/venv/bin/python'), { python: '/opt/py/bin/python', source: 'setting' });
  });
  it("then the Python extension's interpreter", () => {
    assert.deepEqual(chooseInterpreter('  ', '/venv/bin/python'), { python: '/venv/bin/python', source: 'python-extension' });
    assert.deepEqual(chooseInterpreter(undefined, '/venv/bin/python'), { python: '/venv/bin/python', source: 'python-extension' });
  });
  it('else python3', () => {
    assert.deepEqual(chooseInterpreter('', undefined), { python: DEFAULT_PYTHON, source: 'default' });
    assert.equal(DEFAULT_PYTHON, process.platform === 'win32' ? 'python' : 'python3');
  });
});

describe('server command', () => {
  it('is `<python> -m lsp_server`, with no --stdio', () => {
    assert.deepEqual(serverCommand('/v/bin/python'), { command: '/v/bin/python', args: ['-m', 'lsp_server'] });
  });
});

describe('install command', () => {
  it('quotes for the shell', () => {
    assert.equal(installCommand('python3', 'linux'), "python3 -m pip install 'infill-lsp[model]'");
    assert.equal(installCommand('/my dir/python', 'linux'), "'/my dir/python' -m pip install 'infill-lsp[model]'");
    assert.equal(installCommand('C:\\Py 3\\python.exe', 'win32'), '"C:\\Py 3\\python.exe" -m pip install "infill-lsp[model]"');
    assert.equal(shellQuote("it's", 'linux'), `'it'\\''s'`);
  });
});

describe('interpretCheck', () => {
  it('accepts a working interpreter', () => {
    const r = interpretCheck('py', { stdout: '{"version": "0.1.0", "python": "3.11.2", "executable": "/v/bin/python", "missing": []}\n', stderr: '' });
    assert.deepEqual(r, { ok: true, version: '0.1.0', pythonVersion: '3.11.2', executable: '/v/bin/python' });
  });
  it('says when the interpreter does not exist', () => {
    const error = Object.assign(new Error('spawn nope ENOENT'), { code: 'ENOENT' });
    const r = interpretCheck('nope', { error, stdout: '', stderr: '' });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.message, /"nope" was not found/);
    assert.equal(r.ok ? true : r.installable, false);
  });
  it('gives the install command when lsp_server is missing', () => {
    const error = Object.assign(new Error('Command failed'), { code: 1 });
    const stderr = "Traceback (most recent call last):\n  File \"<string>\", line 2\nModuleNotFoundError: No module named 'lsp_server'\n";
    const r = interpretCheck('/usr/bin/python3', { error, stdout: '', stderr });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.installable, true);
      assert.equal(r.message, "infill-lsp: \"/usr/bin/python3\" cannot import lsp_server. Install the server with: /usr/bin/python3 -m pip install 'infill-lsp[model]'");
    }
  });
  it('names missing dependencies', () => {
    const r = interpretCheck('py', { stdout: '{"version": "0.1.0", "python": "3.11", "missing": ["llama_cpp"]}', stderr: '' });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.message, /not its dependencies \(llama_cpp\)/);
  });
  it('reports a hung interpreter', () => {
    const error = Object.assign(new Error('timed out'), { killed: true, code: null });
    const r = interpretCheck('py', { error, stdout: '', stderr: '' });
    assert.match(r.ok ? '' : r.message, /did not answer in time/);
  });
  it('reports garbage output', () => {
    const r = interpretCheck('py', { stdout: 'hello', stderr: '' });
    assert.match(r.ok ? '' : r.message, /unexpected answer/);
  });
});

describe('checkInterpreter (real processes)', () => {
  it('fails clearly for a missing interpreter', async () => {
    const r = await checkInterpreter('/nonexistent/python3');
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.message, /was not found \(ENOENT\)/);
  });
  it('fails with the install command for a Python without the server', async () => {
    // isolated (-I) and without site-packages (-S): lsp_server cannot be found
    const r = await checkInterpreter('python3', { cwd: os.tmpdir() }, (cmd, args, opts) => runProcess(cmd, ['-I', '-S', ...args], opts));
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.installable, true);
      assert.match(r.message, /cannot import lsp_server\. Install the server with: python3 -m pip install 'infill-lsp\[model\]'/);
    }
  });
  it('accepts the interpreter that has the server', { skip: !process.env.INFILL_PYTHON && python() === 'python3' ? 'no project venv' : false }, async () => {
    const r = await checkInterpreter(python(), { cwd: os.tmpdir() });
    assert.equal(r.ok, true, JSON.stringify(r));
  });
});

describe('interpreterFromApi', () => {
  it('uses the environments API', async () => {
    const api = {
      ready: Promise.resolve(),
      environments: {
        getActiveEnvironmentPath: () => ({ id: 'x', path: '/v' }),
        resolveEnvironment: async () => ({ executable: { uri: { fsPath: '/v/bin/python' } } }),
      },
    };
    assert.equal(await interpreterFromApi(api), '/v/bin/python');
  });
  it('falls back to the legacy execution details', async () => {
    const api = {
      environments: { getActiveEnvironmentPath: () => ({ id: 'x', path: '/v' }), resolveEnvironment: async () => undefined },
      settings: { getExecutionDetails: () => ({ execCommand: ['/legacy/python'] }) },
    };
    assert.equal(await interpreterFromApi(api), '/legacy/python');
  });
  it('ignores a multi-word command and a missing API', async () => {
    assert.equal(await interpreterFromApi({ settings: { getExecutionDetails: () => ({ execCommand: ['conda', 'run'] }) } }), undefined);
    assert.equal(await interpreterFromApi(undefined), undefined);
    assert.equal(await interpreterFromApi({}), undefined);
  });
});
