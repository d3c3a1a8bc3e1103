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

/** One set of acceptance totals of `infill/status` (`acceptance.session` / `.stored`). */
export interface AcceptanceTotals {
  shown: number;
  accepted: number;
  partial: number;
  typedThrough: number;
  rejected: number;
  /** accepted / shown */
  rate: number;
  charsAccepted: number;
  charsKept5m: number;
  /** charsKept5m / the accepted characters checked at 5 min; null before any check */
  keptRate5m: number | null;
}

/** `infill/status`'s `acceptance`: this session's totals, the stats file's, and the file. */
export interface Acceptance {
  /** the `stats` setting: counts are stored */
  enabled: boolean;
  path: string;
  /** why the file cannot be used (empty when it can) */
  fault: string;
  session: AcceptanceTotals | null;
  /** null until the server has read the file (and while `stats` is off) */
  stored: AcceptanceTotals | null;
}

export interface Status {
  state: State;
  message: string;
  model: ModelInfo | null;
  /** Model load progress (0..100) while `loading`, when the server reports it. */
  percent?: number;
  /** The interpreter running the server, for the tooltip. */
  python?: string;
  /** What became of the suggestions (asked with `infill/status`), for the tooltip. */
  acceptance?: Acceptance;
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

const num = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);

function totalsFrom(value: unknown): AcceptanceTotals | null {
  if (!value || typeof value !== 'object') {
    return null;
  }
  const t = value as Record<string, unknown>;
  const kept = t.keptRate5m;
  return {
    shown: num(t.shown),
    accepted: num(t.accepted),
    partial: num(t.partial),
    typedThrough: num(t.typedThrough),
    rejected: num(t.rejected),
    rate: num(t.rate),
    charsAccepted: num(t.charsAccepted),
    charsKept5m: num(t.charsKept5m),
    keptRate5m: typeof kept === 'number' && Number.isFinite(kept) ? kept : null,
  };
}

/** The `acceptance` of an `infill/status` answer (defensive: it crosses a process boundary);
 * undefined when the server sends none. */
export function acceptanceFrom(result: unknown): Acceptance | undefined {
  const a = (result as { acceptance?: unknown } | null | undefined)?.acceptance;
  if (!a || typeof a !== 'object') {
    return undefined;
  }
  const r = a as Record<string, unknown>;
  return {
    enabled: r.enabled !== false,
    path: typeof r.path === 'string' ? r.path : '',
    fault: typeof r.fault === 'string' ? r.fault : '',
    session: totalsFrom(r.session),
    stored: totalsFrom(r.stored),
  };
}

const percent = (share: number): string => `${Math.round(share * 100)}%`;

/** e.g. `Accepted 12 of 40 this session (30%), 3 partly, kept 85% after 5 min`. */
export function acceptanceText(t: AcceptanceTotals, scope: string): string {
  let text = `Accepted ${t.accepted} of ${t.shown}${scope}`;
  if (t.shown) {
    text += ` (${percent(t.rate)})`;
  }
  if (t.partial) {
    text += `, ${t.partial} partly`;
  }
  if (t.keptRate5m !== null) {
    text += `, kept ${percent(t.keptRate5m)} after 5 min`;
  }
  return text;
}

/** The tooltip's lines about acceptance: this session's totals, then the stats file's (all
 * sessions; none while it has nothing). */
export function acceptanceLines(a: Acceptance | undefined): string[] {
  if (!a) {
    return [];
  }
  const lines: string[] = [];
  if (a.session) {
    lines.push(acceptanceText(a.session, ' this session'));
  }
  if (!a.enabled) {
    lines.push('Acceptance statistics are not stored (infill.stats is off)');
  } else if (a.fault) {
    lines.push(`Acceptance statistics: ${a.fault}`);
  } else if (a.stored?.shown) {
    // (the server reads the file at most once a minute: it may lag this session's line)
    lines.push(acceptanceText(a.stored, ' in all'));
  }
  return lines;
}

export function render(status: Status): Rendered {
  const python = status.python ? `\nPython: ${status.python}` : '';
  const accepted = acceptanceLines(status.acceptance)
    .map((line) => `\n${line}`)
    .join('');
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
        tooltip: ['infill-lsp: ready', ...details].join('\n') + python + accepted + '\nClick to turn completions off.',
        command: 'infill.toggle',
      };
    }
    case 'disabled':
      return {
        text: '$(circle-slash) infill: off',
        label: 'infill-lsp: disabled',
        tooltip: `infill-lsp: completions are off (infill.enable)${python}${accepted}\nClick to turn them on.`,
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
    acceptance: previous.acceptance,
  };
}

/**
 * The one-line answer of "infill-lsp: Show Server Status" from an `infill/status` result:
 * state, model, this session's acceptance totals, and every total as `name=value` in name
 * order (as Neovim's :InfillStatus), e.g. `infill-lsp: ready, model m; acceptance: shown=2,
 * accepted=1, ..., keptRate5m=null; totals: cacheHits=0, ..., warmups=2, warmupsDone=1`.
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
  const session = acceptanceFrom(result)?.session;
  if (session) {
    text += `; acceptance: ${Object.entries(session)
      .map(([key, value]) => `${key}=${value}`)
      .join(', ')}`;
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
