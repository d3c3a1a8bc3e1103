import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { CLIENT_ONLY, expandPath, needsRestart, openSettingsCommand, serverKeys, serverSettings } from '../src/settings';
import { extensionDir, packageJson, python, repoRoot } from './helpers';

/** The server's settings model, dumped by the server's own code (lsp_server/settings.py only
 * needs the standard library, so any Python 3.10+ runs this). */
function serverModel(): {
  wire: Record<string, unknown>;
  bounds: Record<string, [number, number]>;
  choices: Record<string, string[]>;
  types: Record<string, string>;
} {
  const script = `
import json, sys
sys.path.insert(0, sys.argv[1])
from typing import get_type_hints
from lsp_server import settings as s
hints = get_type_hints(s.Settings)
kinds = {bool: 'boolean', int: 'integer', float: 'number', str: 'string'}
print(json.dumps({
    'wire': s.to_wire(s.Settings()),
    'bounds': {s.camel(k): v for k, v in s.BOUNDS.items()},
    'choices': {s.camel(k): v for k, v in s.CHOICES.items()},
    'types': {s.camel(f.name): kinds.get(hints[f.name], 'array') for f in s.fields(s.Settings)},
}))
`;
  return JSON.parse(execFileSync(python(), ['-c', script, repoRoot()], { encoding: 'utf8' }));
}

describe('package.json settings match lsp_server/settings.py', () => {
  const pkg = packageJson();
  const properties = pkg.contributes.configuration.properties;
  const model = serverModel();

  it('has exactly the server keys (plus the client-only ones)', () => {
    const keys = serverKeys(pkg);
    assert.deepEqual([...keys].sort(), Object.keys(model.wire).sort());
    for (const key of CLIENT_ONLY) {
      assert.ok(properties[`infill.${key}`], `client-only infill.${key} is contributed`);
    }
  });

  it('has the same defaults', () => {
    for (const [key, value] of Object.entries(model.wire)) {
      assert.deepEqual(properties[`infill.${key}`].default, value, `default of infill.${key}`);
    }
  });

  it('has the same types, bounds and choices', () => {
    for (const [key, type] of Object.entries(model.types)) {
      assert.equal(properties[`infill.${key}`].type, type, `type of infill.${key}`);
    }
    for (const [key, [lo, hi]] of Object.entries(model.bounds)) {
      assert.equal(properties[`infill.${key}`].minimum, lo, `minimum of infill.${key}`);
      assert.equal(properties[`infill.${key}`].maximum, hi, `maximum of infill.${key}`);
    }
    for (const key of serverKeys(pkg)) {
      if (!(key in model.bounds)) {
        assert.equal(properties[`infill.${key}`].minimum, undefined, `infill.${key} has no bounds on the server`);
      }
    }
    for (const [key, choices] of Object.entries(model.choices)) {
      assert.deepEqual(properties[`infill.${key}`].enum, choices, `choices of infill.${key}`);
    }
  });

  it('lists every setting in the README', () => {
    const readme = fs.readFileSync(path.join(extensionDir(), 'README.md'), 'utf8');
    for (const name of Object.keys(properties)) {
      assert.ok(readme.includes('`' + name + '`'), `${name} in README.md`);
    }
  });

  it('describes every setting', () => {
    for (const [name, schema] of Object.entries(properties)) {
      assert.ok(schema.description || schema.markdownDescription, `${name} has a description`);
    }
  });
});

describe('serverSettings', () => {
  const keys = serverKeys(packageJson());
  const defaults = Object.fromEntries(
    Object.entries(packageJson().contributes.configuration.properties).map(([k, v]) => [k.slice('infill.'.length), v.default]),
  );
  const context = { home: '/home/me', workspaceFolder: '/ws', trusted: true };

  it('sends every server key with its value, and no client-only key', () => {
    const wire = serverSettings(keys, (k) => defaults[k], context);
    assert.deepEqual(Object.keys(wire), keys);
    assert.equal(wire.pythonPath, undefined);
    assert.equal(wire['trace.server'], undefined);
    assert.equal(wire.prefixTokens, 1500);
  });

  it('passes user values through (the server validates them)', () => {
    const values: Record<string, unknown> = { ...defaults, maxTokens: 64, disabledLanguages: ['markdown'], enable: false };
    const wire = serverSettings(keys, (k) => values[k], context);
    assert.equal(wire.maxTokens, 64);
    assert.deepEqual(wire.disabledLanguages, ['markdown']);
    assert.equal(wire.enable, false);
  });

  it('expands paths', () => {
    const values: Record<string, unknown> = { ...defaults, modelPath: '~/models/m.gguf', fixPython: '${workspaceFolder}/.venv/bin/python' };
    const wire = serverSettings(keys, (k) => values[k], context);
    assert.equal(wire.modelPath, '/home/me/models/m.gguf');
    assert.equal(wire.fixPython, '/ws/.venv/bin/python');
    assert.equal(expandPath('${userHome}/x', context), '/home/me/x');
    assert.equal(expandPath('rel/~x', context), 'rel/~x');
    assert.equal(expandPath('${workspaceFolder}/x', { home: '/h' }), '${workspaceFolder}/x');
  });

  it('never runs docstring examples in an untrusted workspace', () => {
    const wire = serverSettings(keys, (k) => defaults[k], { ...context, trusted: false });
    assert.equal(wire.fixRunExamples, false);
  });

  it('skips keys with no value', () => {
    assert.deepEqual(serverSettings(['enable', 'nope'], (k) => (k === 'enable' ? true : undefined), context), { enable: true });
  });

  it('restarts the server only for the interpreter', () => {
    assert.equal(needsRestart((s) => s === 'infill.pythonPath'), true);
    assert.equal(needsRestart((s) => s === 'infill.maxTokens'), false);
  });
});

describe('openSettingsCommand', () => {
  it('opens the settings where the value is set', () => {
    assert.deepEqual(openSettingsCommand('pythonPath', { workspaceValue: '/v/bin/python' }, undefined), {
      command: 'workbench.action.openWorkspaceSettings',
      arg: { query: 'infill.pythonPath' },
    });
    assert.deepEqual(openSettingsCommand('pythonPath', { workspaceFolderValue: 'x' }, 'ssh-remote').command, 'workbench.action.openWorkspaceSettings');
  });
  it("opens the remote's settings in a remote window (machine-overridable settings live there)", () => {
    assert.deepEqual(openSettingsCommand('pythonPath', {}, 'ssh-remote'), {
      command: 'workbench.action.openRemoteSettings',
      arg: { query: 'infill.pythonPath' },
    });
  });
  it("else the user's settings", () => {
    assert.deepEqual(openSettingsCommand('pythonPath', undefined, undefined), {
      command: 'workbench.action.openSettings',
      arg: 'infill.pythonPath',
    });
  });
});
