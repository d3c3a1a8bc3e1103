/**
 * What the status bar item says: a pure function of the server's state, so the unit tests
 * check every text under plain Node.
 *
 * The server pushes `infill/statusChanged` {state, message, model} on every change of state,
 * and reports the model load with `$/progress` ("infill-lsp: loading model", percentage).
 */

export type ServerState = 'starting' | 'loading' | 'ready' | 'error' | 'disabled';
/** `stopped`: the server process is not running (bad interpreter, crashed, being restarted). */
export type State = ServerState | 'stopped';

export interface ModelInfo {
  path?: string;
  verified?: boolean;
  source?: string;
  size?: number;
  dialect?: string;
  nCtx?: number;
  /** What drafts for speculative decoding: "off", "lookup", "draft:<file>". */
  speculation?: string;
  /** Why this model serves (the `model` setting's choice; `auto` measures the 1.5B). */
  choice?: { setting?: string; picked?: string; reason?: string; measuring?: boolean };
}

export interface Status {
  state: State;
  message: string;
  model: ModelInfo | null;
  /** Model load progress (0..100) while `loading`, when the server reports it. */
  percent?: number;
  /** The interpreter running the server, for the tooltip. */
  python?: string;
}

export interface Rendered {
  text: string;
  tooltip: string;
  /** Accessibility label; also what tests select the item by. */
  label: string;
  /** `error` / `warning` background, or none. */
  background?: 'error' | 'warning';
  /** What a click does. */
  command: 'infill.toggle' | 'infill.restart';
}

const MAX_NAME = 40;

export function basename(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

/** A short model name for the status bar: the GGUF file name without `.gguf`. */
export function modelName(model: ModelInfo | null, message = ''): string {
  const source = model?.path ? basename(model.path) : message;
  let name = source.replace(/\.gguf$/i, '');
  if (name.length > MAX_NAME) {
    name = name.slice(0, MAX_NAME - 1) + '…';
  }
  return name;
}

function formatSize(bytes: number | undefined): string {
  if (!bytes) {
    return '';
  }
  return bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GiB` : `${Math.round(bytes / (1 << 20))} MiB`;
}

export function render(status: Status): Rendered {
  const python = status.python ? `\nPython: ${status.python}` : '';
  switch (status.state) {
    case 'starting':
      return {
        text: '$(sync~spin) infill',
        label: 'infill-lsp: starting',
        tooltip: `infill-lsp: starting the server${python}`,
        command: 'infill.toggle',
      };
    case 'loading': {
      const pct = status.percent !== undefined ? ` ${Math.max(0, Math.min(100, Math.round(status.percent)))}%` : '';
      return {
        text: `$(sync~spin) infill${pct}`,
        label: `infill-lsp: loading model${pct}`,
        tooltip: `infill-lsp: loading the model${pct}${python}\nClick to turn completions off.`,
        command: 'infill.toggle',
      };
    }
    case 'ready': {
      const name = modelName(status.model, status.message);
      const m = status.model;
      const details = m
        ? [
            m.path ? `Model: ${m.path}` : '',
            m.dialect ? `FIM dialect: ${m.dialect}` : '',
            m.nCtx ? `Context: ${m.nCtx} tokens` : '',
            m.size ? `Size: ${formatSize(m.size)}${m.verified ? ' (checksum verified)' : ''}` : '',
            m.speculation && m.speculation !== 'off' ? `Speculation: ${m.speculation}` : '',
            m.choice?.reason ? `Why this model: ${m.choice.reason}` : '',
          ].filter(Boolean)
        : [];
      return {
        text: `$(check) infill: ${name || 'ready'}`,
        label: `infill-lsp: ready${name ? ', model ' + name : ''}`,
        tooltip: ['infill-lsp: ready', ...details].join('\n') + python + '\nClick to turn completions off.',
        command: 'infill.toggle',
      };
    }
    case 'disabled':
      return {
        text: '$(circle-slash) infill: off',
        label: 'infill-lsp: disabled',
        tooltip: `infill-lsp: completions are off (infill.enable)${python}\nClick to turn them on.`,
        command: 'infill.toggle',
      };
    case 'error':
      return {
        text: '$(error) infill: error',
        label: `infill-lsp: error: ${status.message}`,
        tooltip: `infill-lsp: ${status.message || 'error'}${python}\nClick to turn completions off (or on again, which retries); see "infill-lsp: Show Log".`,
        background: 'error',
        command: 'infill.toggle',
      };
    case 'stopped':
    default:
      return {
        text: '$(error) infill: stopped',
        label: `infill-lsp: stopped: ${status.message}`,
        tooltip: `infill-lsp: the server is not running. ${status.message}${python}\nClick to restart it.`,
        background: 'error',
        command: 'infill.restart',
      };
  }
}

/** `infill/statusChanged` params -> a Status (defensive: the params cross a process boundary). */
export function fromNotification(params: unknown, previous: Status): Status {
  const p = (params ?? {}) as { state?: unknown; message?: unknown; model?: unknown };
  const states: ServerState[] = ['starting', 'loading', 'ready', 'error', 'disabled'];
  const state = states.includes(p.state as ServerState) ? (p.state as ServerState) : previous.state;
  return {
    state,
    message: typeof p.message === 'string' ? p.message : '',
    model: p.model && typeof p.model === 'object' ? (p.model as ModelInfo) : null,
    // a new load starts from 0; other states carry no percentage
    percent: state === 'loading' ? (previous.state === 'loading' ? previous.percent : undefined) : undefined,
    python: previous.python,
  };
}

/**
 * The one-line answer of "infill-lsp: Show Server Status" from an `infill/status` result:
 * state, model, and every total as `name=value` in name order (as Neovim's :InfillStatus), e.g.
 * `infill-lsp: ready, model m; totals: cacheHits=0, ..., warmups=2, warmupsDone=1`.
 */
export function statusSummary(result: unknown): string {
  const r = (result ?? {}) as { state?: unknown; message?: unknown; model?: unknown; totals?: unknown };
  const state = typeof r.state === 'string' ? r.state : 'unknown';
  const model = r.model && typeof r.model === 'object' ? (r.model as ModelInfo) : null;
  const name = modelName(model, typeof r.message === 'string' && state === 'ready' ? r.message : '');
  let text = `infill-lsp: ${state}`;
  if (name) {
    text += `, model ${name}`;
    if (model?.choice?.reason) {
      text += ` (${model.choice.reason})`;
    }
  } else if (typeof r.message === 'string' && r.message) {
    text += ` (${r.message})`;
  }
  if (r.totals && typeof r.totals === 'object') {
    const totals = Object.entries(r.totals as Record<string, unknown>)
      .filter(([, value]) => typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean')
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => `${key}=${value}`);
    if (totals.length) {
      text += `; totals: ${totals.join(', ')}`;
    }
  }
  return text;
}
