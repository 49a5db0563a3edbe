// Output: plain aligned tables (or JSON with --json) on stdout; prompts for what was not given as options.
import { createInterface } from 'node:readline';
import { CliError, EXIT } from './client.ts';

export type Column<T> = [header: string, value: (row: T) => unknown];

const text = (v: unknown): string => {
  if (v === null || v === undefined || v === '') return '-';
  if (Array.isArray(v)) return v.length ? v.map(text).join(',') : '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
};

export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = [columns.map(([h]) => h), ...rows.map((r) => columns.map(([, f]) => text(f(r))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  return (
    cells
      .map((c) =>
        c
          .map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i])))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** A size given in GiB, for people: `96 MiB` below 1 GiB, else `2 GiB` or `1.5 GiB`. */
export function humanGiB(gib: number): string {
  if (gib < 1) return `${Number((gib * 1024).toFixed(1))} MiB`;
  return `${Number(gib.toFixed(2))} GiB`;
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

/** A listing: JSON array with --json, else a table. */
export function printList<T>(json: boolean | undefined, rows: T[], columns: Column<T>[]): void {
  if (json) printJson(rows);
  else process.stdout.write(table(rows, columns));
}

/** One object: JSON with --json, else `key: value` lines. */
export function printObject(json: boolean | undefined, obj: Record<string, unknown>): void {
  if (json) return printJson(obj);
  const keys = Object.keys(obj);
  const w = Math.max(...keys.map((k) => k.length));
  process.stdout.write(keys.map((k) => `${`${k}:`.padEnd(w + 1)}  ${text(obj[k])}`).join('\n') + '\n');
}

/** A note for people (stderr, so stdout stays clean for scripts). */
export const note = (s: string) => process.stderr.write(`${s}\n`);

let pipedLines: string[] | undefined;
let pipedDone = false;
let pipedWaiters: (() => void)[] = [];

/** The next line of a piped (not terminal) stdin. */
async function pipedLine(): Promise<string | undefined> {
  if (!pipedLines) {
    pipedLines = [];
    const rl = createInterface({ input: process.stdin, terminal: false });
    rl.on('line', (l) => {
      pipedLines!.push(l);
      pipedWaiters.forEach((w) => w());
      pipedWaiters = [];
    });
    rl.on('close', () => {
      pipedDone = true;
      pipedWaiters.forEach((w) => w());
    });
  }
  while (!pipedLines.length && !pipedDone) await new Promise<void>((r) => pipedWaiters.push(r));
  return pipedLines.shift();
}

/** Asks on the terminal (input hidden for secrets), or reads the next line of piped stdin. */
export async function ask(question: string, hidden = false): Promise<string> {
  if (!process.stdin.isTTY) {
    const line = await pipedLine();
    if (line === undefined)
      throw new CliError(
        `${question.replace(/:\s*$/, '')}: not given (and stdin is not a terminal)`,
        EXIT.usage,
      );
    return line;
  }
  process.stderr.write(question);
  if (!hidden) {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const answer = await new Promise<string>((r) => rl.once('line', r));
    rl.close();
    return answer;
  }
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  let value = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            return resolve(value);
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            return reject(new CliError('interrupted', 130));
          }
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
          else if (ch >= ' ') value += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
