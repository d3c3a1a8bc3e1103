/**
 * "Fix this function" from the command palette: the argument of the server's
 * `infill.fixFunction` command and the message for its answer. The language client registers
 * `infill.fixFunction` itself (the server lists it in executeCommandProvider), so the palette
 * command has its own id (`infill.fixThisFunction`) and sends workspace/executeCommand.
 */

export const SERVER_FIX_COMMAND = 'infill.fixFunction';

/** The argument of the server's `infill.fixFunction` command. */
export interface FixArgument {
  uri: string;
  start: [number, number];
  instruction?: string;
  test?: string;
}

export function fixArgument(uri: string, line: number, character: number, instruction?: string, test?: string): FixArgument {
  const arg: FixArgument = { uri, start: [line, character] };
  if (instruction && instruction.trim()) {
    arg.instruction = instruction.trim();
  }
  if (test && test.trim()) {
    arg.test = test.trim();
  }
  return arg;
}

/** The message to show for `infill.fixFunction`'s answer {applied, message}. */
export function fixOutcome(result: unknown): { level: 'info' | 'warning'; text: string } {
  const r = (result ?? {}) as { applied?: unknown; message?: unknown };
  const message = typeof r.message === 'string' && r.message ? r.message : 'no answer from the server';
  if (r.applied === true) {
    return { level: 'info', text: `infill-lsp: ${message}` };
  }
  return { level: 'warning', text: `infill-lsp: no change made: ${message}` };
}
