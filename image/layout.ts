// What the kubemta image contains and how it runs: the one description that image/stage.ts (root
// filesystem), image/build.ts (tarball) and the Dockerfile (checked by image/image.test.ts) follow.

export const IMAGE_REPO = 'kubemta.local/kubemta';
/** The fixed tag every local tool (smoke test, e2e, chart values for the local node) refers to. */
export const DEV_TAG = 'dev';

/** Where the app lives in the image; the launcher resolves cli/main.ts next to its own bin/. */
export const APP_DIR = 'app';
/** App directories copied from the repository (those that exist); package.json goes beside them. */
export const APP_DIRS = ['bin', 'cli', 'relay', 'operator', 'crds'] as const;

/** Files left out of the app and of node_modules: tests, editor/VCS dotfiles, local state. */
export function isExcludedAppPath(rel: string): boolean {
  const parts = rel.split('/');
  const base = parts[parts.length - 1];
  if (parts.some((p) => p.startsWith('.'))) return true;
  if (parts.some((p) => ['state', 'certs', 'testdata', 'fixtures', '__tests__', '__fixtures__'].includes(p))) return true;
  return /\.test\.[cm]?[jt]s$/.test(base) || /\.spec\.[cm]?[jt]s$/.test(base);
}

/**
 * Files in production node_modules that no running program reads: type declarations, source maps,
 * Markdown docs, the packages' own tests (`*.test.js`, a `test/` dir at a package's root) — ~66 MB of the
 * ~141 MB; licences stay. npm's own `.bin` links are dropped too. `rel` is relative to node_modules.
 */
export function isPrunedDependencyPath(rel: string): boolean {
  const parts = rel.split('/');
  const base = parts[parts.length - 1];
  if (parts.includes('.bin')) return true;
  // the segment after a package's root: node_modules/<pkg>/X or node_modules/@scope/<pkg>/X
  const last = parts.lastIndexOf('node_modules');
  const pkgStart = last + 1;
  const inPkg = pkgStart + (parts[pkgStart]?.startsWith('@') ? 2 : 1);
  if (['test', 'tests', '__tests__'].includes(parts[inPkg] ?? '') && parts.length > inPkg) return true;
  if (/\.(test|spec)\.[cm]?[jt]sx?$/.test(base)) return true;
  return /\.d\.[cm]?ts$/.test(base) || /\.map$/.test(base) || /\.md$/i.test(base);
}

/** The runtime user: no login, no home to write to; everything in the image is owned by root. */
export const USER = { name: 'kubemta', uid: 65532, gid: 65532 } as const;

/**
 * Empty directories in the image that pods mount volumes on (root-owned 0755: unwritable unless a
 * volume is mounted there). The relay writes only its queue dir, the mail store and /tmp.
 */
export const MOUNT_POINTS = ['tmp', 'etc/kubemta', 'var/lib/kubemta/queue', 'var/lib/kubemta/mail'] as const;

/** Programs the launcher (bin/kubemta, a sh script) needs, copied from the build host with their libraries. */
export const SHELL_TOOLS = [
  { from: '/bin/dash', to: 'bin/sh' },
  { from: '/usr/bin/readlink', to: 'bin/readlink' },
  { from: '/usr/bin/dirname', to: 'bin/dirname' },
] as const;
export const CA_BUNDLE = 'etc/ssl/certs/ca-certificates.crt';
export const NODE_PATH = 'usr/local/bin/node';
export const LAUNCHER_LINK = { path: 'usr/local/bin/kubemta', target: `/${APP_DIR}/bin/kubemta` } as const;

export const ENTRYPOINT = ['/usr/local/bin/kubemta'] as const;
export const CMD = ['relay', '--config', '/etc/kubemta/relay.yaml'] as const;
export const ENV = [
  'PATH=/usr/local/bin:/usr/bin:/bin',
  'NODE_ENV=production',
  // Node uses its bundled CA list; the system bundle is there for --use-openssl-ca / NODE_EXTRA_CA_CERTS.
  `SSL_CERT_FILE=/${CA_BUNDLE}`,
] as const;
export const WORKDIR = `/${APP_DIR}`;
export const EXPOSED_PORTS = ['2525/tcp', '2587/tcp', '2465/tcp', '8025/tcp'] as const;

/** The layers, in order; a path belongs to the first whose test matches (node_modules changes least). */
export const LAYERS = ['base', 'deps', 'app'] as const;
export type LayerName = (typeof LAYERS)[number];
export function layerOf(rel: string): LayerName {
  if (rel === `${APP_DIR}/node_modules` || rel.startsWith(`${APP_DIR}/node_modules/`)) return 'deps';
  if (rel === APP_DIR || rel.startsWith(`${APP_DIR}/`)) return 'app';
  return 'base';
}

export function passwd(): string {
  return [
    'root:x:0:0:root:/root:/sbin/nologin',
    `${USER.name}:x:${USER.uid}:${USER.gid}:${USER.name}:/nonexistent:/sbin/nologin`,
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin',
    '',
  ].join('\n');
}

export function group(): string {
  return ['root:x:0:', `${USER.name}:x:${USER.gid}:`, 'nogroup:x:65534:', ''].join('\n');
}

/** glibc ≥ 2.34 has files and dns built in: no libnss_*.so needed. */
export const NSSWITCH = 'passwd: files\ngroup: files\nhosts: files dns\n';
