import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ACCEPTED_COMMAND, codePoints, partialArgument, Shown, ShownSuggestions, suggestionId } from '../src/acceptance';
import { packageJson } from './helpers';

const command = (id: unknown) => ({ title: 't', command: ACCEPTED_COMMAND, arguments: [{ id, kind: 'full' }] });

describe('the suggestion id of an item', () => {
  it("is in the server's infill.accepted command", () => {
    assert.equal(suggestionId(command('a1-3')), 'a1-3');
  });
  it('is absent from other commands and junk', () => {
    assert.equal(suggestionId(undefined), undefined);
    assert.equal(suggestionId({ command: 'other.command', arguments: [{ id: 'x' }] }), undefined);
    assert.equal(suggestionId({ command: ACCEPTED_COMMAND }), undefined);
    assert.equal(suggestionId({ command: ACCEPTED_COMMAND, arguments: [] }), undefined);
    assert.equal(suggestionId(command(7)), undefined);
  });
});

describe('characters as the server counts them', () => {
  it('counts code points, not UTF-16 units', () => {
    assert.equal(codePoints('abc'), 3);
    assert.equal(codePoints('é'), 1);
    assert.equal(codePoints('x = "😀"'), 7); // the emoji is 2 UTF-16 units
    assert.equal('x = "😀"'.length, 8);
  });
  it('counts a CRLF line break as one', () => {
    assert.equal(codePoints('a\r\n  b'), 5);
    assert.equal(codePoints(''), 0);
  });
});

describe('a partial accept', () => {
  it('sends the length this step inserted', () => {
    assert.deepEqual(partialArgument('s1', 'word', 'a + b', 'a'), { id: 's1', kind: 'word', length: 1 });
    assert.deepEqual(partialArgument('s1', 'line', 'x = 1\n    return x', 'x = 1\n'), { id: 's1', kind: 'line', length: 6 });
    assert.deepEqual(partialArgument('s1', 'word', '"😀" + s', '"😀"'), { id: 's1', kind: 'word', length: 3 });
    assert.deepEqual(partialArgument('s1', 'line', 'x\n  y', 'x\r\n'), { id: 's1', kind: 'line', length: 2 });
  });
  it('sends nothing for all of the rest (VS Code accepts in full and runs the command)', () => {
    assert.equal(partialArgument('s1', 'word', 'b', 'b'), undefined);
  });
  it('sends nothing for an edit that is not the suggestion', () => {
    assert.equal(partialArgument('s1', 'word', 'a + b', ''), undefined);
    assert.equal(partialArgument('s1', 'word', 'a + b', 'z'), undefined);
  });
  it('steps add up to what was accepted (each step its own length, not a running total)', () => {
    let rest = 'total += n  # sum';
    const lengths: number[] = [];
    for (const step of ['total', ' +=', ' n', '  #']) {
      const arg = partialArgument('s1', 'word', rest, step);
      assert.ok(arg);
      lengths.push(arg.length ?? 0);
      rest = rest.slice(step.length);
    }
    assert.deepEqual(lengths, [5, 3, 2, 3]);
    assert.equal(rest, ' sum');
  });
});

describe('the suggestion on screen', () => {
  // A one-line document: `typed` reads from the suggestion's column to the cursor's.
  const reader = (line: string, cursor: number) => (s: Shown) => (s.character <= cursor ? line.slice(s.character, cursor) : undefined);

  it('is the newest that goes on at the cursor, with its rest', () => {
    const shown = new ShownSuggestions();
    shown.remember('file:///a.py', { id: 'old', text: 'a + b', line: 0, character: 11 });
    shown.remember('file:///a.py', { id: 'new', text: 'a - b', line: 0, character: 11 });
    const found = shown.atCursor('file:///a.py', reader('    return a', 12));
    assert.equal(found?.shown.id, 'new');
    assert.equal(found?.rest, ' - b');
    // typed past what the newest says: an older one that still matches
    assert.equal(shown.atCursor('file:///a.py', reader('    return a +', 14))?.shown.id, 'old');
  });
  it('is none where nothing matches, none typed all through, none in another document', () => {
    const shown = new ShownSuggestions();
    shown.remember('file:///a.py', { id: 's', text: 'a + b', line: 0, character: 11 });
    assert.equal(shown.atCursor('file:///a.py', reader('    return x', 12)), undefined);
    assert.equal(shown.atCursor('file:///a.py', reader('    return a + b', 16)), undefined);
    assert.equal(shown.atCursor('file:///a.py', reader('    return', 10)), undefined); // before it
    assert.equal(shown.atCursor('file:///b.py', reader('    return ', 11)), undefined);
    shown.forget('file:///a.py');
    assert.equal(shown.atCursor('file:///a.py', reader('    return ', 11)), undefined);
  });
  it('keeps a few per document and a few documents', () => {
    const shown = new ShownSuggestions(2, 2);
    for (const id of ['1', '2', '3']) {
      shown.remember('file:///a.py', { id, text: `x${id}`, line: 0, character: 0 });
    }
    assert.equal(shown.atCursor('file:///a.py', () => 'x')?.shown.id, '3');
    assert.equal(shown.atCursor('file:///a.py', () => 'x1'), undefined); // dropped
    shown.remember('file:///b.py', { id: 'b', text: 'b!', line: 0, character: 0 });
    shown.remember('file:///c.py', { id: 'c', text: 'c!', line: 0, character: 0 });
    assert.equal(shown.atCursor('file:///a.py', () => ''), undefined); // the oldest document went
    assert.equal(shown.atCursor('file:///c.py', () => '')?.shown.id, 'c');
  });
});

describe('package.json', () => {
  it('binds Ctrl+Right to the counted word accept only where VS Code binds its own', () => {
    const pkg = packageJson() as unknown as {
      contributes: { commands: { command: string }[]; keybindings: { command: string; key: string; when: string }[] };
    };
    const binding = pkg.contributes.keybindings.find((k) => k.command === 'infill.acceptNextWord');
    assert.ok(binding);
    assert.equal(binding.key, 'ctrl+right');
    for (const key of ['inlineSuggestionVisible', 'cursorBeforeGhostText', '!editorReadonly', 'infill.running']) {
      assert.ok(binding.when.includes(key), `${key} missing in ${binding.when}`);
    }
    const commands = pkg.contributes.commands.map((c) => c.command);
    for (const name of ['infill.deleteStats', 'infill.acceptNextWord', 'infill.acceptNextLine']) {
      assert.ok(commands.includes(name), name);
    }
  });
});
