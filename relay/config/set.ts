// `--set key.path=value`, as Helm's: `listeners[0].port=2600`, `queue.dir=/var/spool/kubemta`.
// The value is read as YAML, so numbers and booleans get their types (`queue.fsync=false`).
import * as yaml from 'js-yaml';

type Container = Record<string, unknown> | unknown[];

/** Splits `a.b[0].c` into ['a', 'b', 0, 'c']; returns undefined when the path is malformed. */
export function parseSetPath(path: string): (string | number)[] | undefined {
  const parts: (string | number)[] = [];
  const re = /([^.[\]]+)|\[(\d+)\]/g;
  let last = 0;
  for (let m = re.exec(path); m; m = re.exec(path)) {
    const between = path.slice(last, m.index);
    if (between !== '' && between !== '.') return undefined;
    parts.push(m[2] !== undefined ? Number(m[2]) : m[1]);
    last = re.lastIndex;
  }
  if (last !== path.length || parts.length === 0) return undefined;
  return parts;
}

/** Applies one `key.path=value` to doc in place; returns an error message, or undefined on success. */
export function applySet(doc: Record<string, unknown>, assignment: string): string | undefined {
  const eq = assignment.indexOf('=');
  if (eq <= 0) return 'expected key.path=value';
  const parts = parseSetPath(assignment.slice(0, eq));
  if (!parts) return `malformed path "${assignment.slice(0, eq)}"`;
  let value: unknown;
  try {
    value = yaml.load(assignment.slice(eq + 1));
  } catch (err) {
    return `value is not valid YAML: ${(err as Error).message}`;
  }
  if (value === undefined) value = '';
  let node: Container = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i];
    const nextIsIndex = typeof parts[i + 1] === 'number';
    const child = (node as Record<string | number, unknown>)[key];
    if (child === undefined || child === null) {
      const fresh: Container = nextIsIndex ? [] : {};
      (node as Record<string | number, unknown>)[key] = fresh;
      node = fresh;
    } else if (typeof child === 'object') {
      node = child as Container;
    } else {
      return `${parts.slice(0, i + 1).join('.')} is a ${typeof child}, not an object`;
    }
  }
  (node as Record<string | number, unknown>)[parts[parts.length - 1]] = value;
  return undefined;
}
