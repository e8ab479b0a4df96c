// One MailServer → its Kubernetes objects: the relay config ConfigMap, table Secrets, the Deployment (or
// StatefulSet), Services and PersistentVolumeClaims. The pod template holds only what needs a restart
// (image, ports, volumes, resources): config, tables and certificates arrive as file updates and the
// relay hot-reloads them.
import { createHash } from 'node:crypto';
import type { MailServer } from '../api/mailserver.ts';
import type { Listener } from '../api/listener.ts';
import { API_VERSION } from '../api/kind.ts';
import { containerPortOf, serviceNameOf, type ServerGroup } from './checks.ts';
import { Paths } from './relay-config.ts';
import { serverDkim } from './dkim-keys.ts';
import type { Slot } from './table-shards.ts';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: unknown[];
  };
  [field: string]: unknown;
}

export const MANAGED_BY = 'kubemta-operator';
export const Annotations = {
  contentHash: 'kubemta.io/content-hash',
  podHash: 'kubemta.io/pod-hash',
  retained: 'kubemta.io/retained',
  /** On running relay pods only (never the template): a hash of what they mount, see controllers/nudge.ts. */
  volumesHash: 'kubemta.io/volumes-hash',
} as const;
export const Labels = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  server: 'kubemta.io/mailserver',
} as const;

export function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

function selectorLabels(server: MailServer): Record<string, string> {
  return { [Labels.name]: 'kubemta', [Labels.instance]: server.metadata.name };
}

function labels(server: MailServer, component: string): Record<string, string> {
  return { ...selectorLabels(server), [Labels.component]: component, [Labels.managedBy]: MANAGED_BY, [Labels.server]: server.metadata.name };
}

function ownerRef(server: MailServer): unknown[] | undefined {
  if (!server.metadata.uid) return undefined;
  return [{ apiVersion: API_VERSION, kind: 'MailServer', name: server.metadata.name, uid: server.metadata.uid, controller: true }];
}

/** Stamps the content hash the operator compares before writing (an unchanged object is never rewritten). */
export function finish(m: Manifest, owned = true, owner?: MailServer): Manifest {
  if (owned && owner) {
    const refs = ownerRef(owner);
    if (refs) m.metadata.ownerReferences = refs;
  }
  const { annotations, ...meta } = m.metadata;
  const h = hashOf({ ...m, metadata: { ...meta, annotations: annotations ?? {} } });
  m.metadata.annotations = { ...(annotations ?? {}), [Annotations.contentHash]: h };
  return m;
}

function meta(server: MailServer, name: string, component: string, annotations?: Record<string, string>) {
  return { name, namespace: server.metadata.namespace ?? 'default', labels: labels(server, component), ...(annotations ? { annotations } : {}) };
}

export function tableSecretName(server: MailServer, index: number): string {
  return `${server.metadata.name}-tables-${index}`;
}

export function configMap(server: MailServer, yamlText: string): Manifest {
  return finish({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(server, `${server.metadata.name}-config`, 'config'), data: { 'relay.yaml': yamlText } }, true, server);
}

export function tableSecrets(server: MailServer, slots: Slot[]): Manifest[] {
  return slots.map((s) =>
    finish(
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: meta(server, tableSecretName(server, s.index), 'tables'),
        type: 'Opaque',
        data: Object.fromEntries(s.files.map((f) => [f.name, Buffer.from(f.text).toString('base64')])),
      },
      true,
      server,
    ),
  );
}

function volumeClaim(server: MailServer, which: 'queue' | 'mail') {
  const v = which === 'queue' ? server.spec.queue : server.spec.mailStore;
  return {
    accessModes: ['ReadWriteOnce'],
    resources: { requests: { storage: String(v.size) } },
    ...(v.storageClassName ? { storageClassName: v.storageClassName } : {}),
  };
}

export function claims(server: MailServer): Manifest[] {
  if (server.spec.replicas > 1) return []; // the StatefulSet's volumeClaimTemplates make them
  return (['queue', 'mail'] as const).map((which) => {
    const retain = (which === 'queue' ? server.spec.queue : server.spec.mailStore).retainOnDelete;
    return finish(
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: meta(server, `${server.metadata.name}-${which}`, which, retain ? { [Annotations.retained]: 'true' } : undefined),
        spec: volumeClaim(server, which),
      },
      !retain,
      server,
    );
  });
}

export function services(g: ServerGroup): Manifest[] {
  const groups = new Map<string, Listener[]>();
  for (const l of g.listeners) {
    const name = serviceNameOf(l, g.server);
    if (name !== undefined) groups.set(name, [...(groups.get(name) ?? []), l]);
  }
  const out: Manifest[] = [];
  for (const [name, ls] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const svc = ls[0].spec.service;
    out.push(
      finish(
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: meta(g.server, name, 'smtp', svc.annotations),
          spec: {
            type: svc.type,
            selector: selectorLabels(g.server),
            ...(svc.externalTrafficPolicy ? { externalTrafficPolicy: svc.externalTrafficPolicy } : {}),
            ports: ls
              .map((l) => ({
                name: `smtp-${l.spec.port}`,
                port: l.spec.port,
                targetPort: containerPortOf(l),
                protocol: 'TCP',
                ...(l.spec.service.nodePort ? { nodePort: l.spec.service.nodePort } : {}),
              }))
              .sort((a, b) => a.port - b.port),
          },
        },
        true,
        g.server,
      ),
    );
  }
  // the relay's /metrics for Prometheus (a ServiceMonitor selects it by the component label)
  out.push(
    finish(
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(g.server, `${g.server.metadata.name}-metrics`, 'metrics', { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(Paths.httpPort), 'prometheus.io/path': '/metrics' }),
        spec: { type: 'ClusterIP', selector: selectorLabels(g.server), ports: [{ name: 'metrics', port: Paths.httpPort, targetPort: 'http', protocol: 'TCP' }] },
      },
      true,
      g.server,
    ),
  );
  if (g.server.spec.replicas > 1) {
    out.push(
      finish(
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: meta(g.server, `${g.server.metadata.name}-pods`, 'smtp'),
          spec: { clusterIP: 'None', selector: selectorLabels(g.server), ports: [{ name: 'http', port: Paths.httpPort, targetPort: Paths.httpPort, protocol: 'TCP' }] },
        },
        true,
        g.server,
      ),
    );
  }
  return out;
}

function podSpec(g: ServerGroup, tableSlots: number) {
  const s = g.server.spec;
  const name = g.server.metadata.name;
  const pkiNames = [...new Set(g.listeners.map((l) => l.spec.tls.pkiCertRef?.name).filter((n): n is string => !!n))].sort();
  const secretItems: { name: string; items: { key: string; path: string }[] }[] = [];
  if (s.outbound.smarthost && s.outbound.smarthostAuth) {
    const r = s.outbound.smarthostAuth.passwordSecretRef;
    secretItems.push({ name: r.name, items: [{ key: r.key, path: 'smarthost-password' }] });
  }
  for (const k of s.outbound.dkim ?? []) {
    secretItems.push({ name: k.privateKeySecretRef.name, items: [{ key: k.privateKeySecretRef.key, path: `dkim-${k.selector}.${k.domain}.key` }] });
  }
  if (s.outbound.srs) {
    const r = s.outbound.srs.keySecretRef;
    secretItems.push({ name: r.name, items: [{ key: r.key, path: 'srs-key' }] });
  }
  const dkimSecrets = serverDkim(g).secrets;
  const volumes: unknown[] = [
    { name: 'config', configMap: { name: `${name}-config` } },
    { name: 'tables', projected: { defaultMode: 0o440, sources: Array.from({ length: tableSlots }, (_, i) => ({ secret: { name: tableSecretName(g.server, i) } })) } },
    ...(pkiNames.length
      ? [
          {
            name: 'pki',
            projected: {
              defaultMode: 0o440,
              sources: pkiNames.map((p) => {
                const cert = g.pkiCerts.get(p)!;
                return { secret: { name: cert.spec.secretName ?? `${p}-tls`, items: [{ key: 'tls.crt', path: `${p}.crt` }, { key: 'tls.key', path: `${p}.key` }] } };
              }),
            },
          },
        ]
      : []),
    ...(secretItems.length ? [{ name: 'secrets', projected: { defaultMode: 0o440, sources: secretItems.map((x) => ({ secret: x })) } }] : []),
    // every key of the operator's DKIM Secrets (file names are unique across them): a rotation adds and
    // removes files, never a volume, so it restarts nothing
    ...(dkimSecrets.length ? [{ name: 'dkim', projected: { defaultMode: 0o440, sources: dkimSecrets.map((name) => ({ secret: { name } })) } }] : []),
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
    ...(s.replicas > 1 ? [] : [
      { name: 'queue', persistentVolumeClaim: { claimName: `${name}-queue` } },
      { name: 'mail', persistentVolumeClaim: { claimName: `${name}-mail` } },
    ]),
  ];
  const mounts = [
    { name: 'config', mountPath: Paths.configDir, readOnly: true },
    { name: 'tables', mountPath: Paths.tablesDir, readOnly: true },
    ...(pkiNames.length ? [{ name: 'pki', mountPath: Paths.pkiDir, readOnly: true }] : []),
    ...(secretItems.length ? [{ name: 'secrets', mountPath: Paths.secretsDir, readOnly: true }] : []),
    ...(dkimSecrets.length ? [{ name: 'dkim', mountPath: Paths.dkimDir, readOnly: true }] : []),
    { name: 'tmp', mountPath: Paths.tmp },
    { name: 'queue', mountPath: Paths.queueMount },
    { name: 'mail', mountPath: Paths.mailMount },
  ];
  const ports = [
    ...g.listeners.map((l) => ({ name: `smtp-${containerPortOf(l)}`.slice(0, 15), containerPort: containerPortOf(l), protocol: 'TCP' })),
    { name: 'http', containerPort: Paths.httpPort, protocol: 'TCP' },
  ];
  return {
    securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: 60,
    ...(s.nodeSelector ? { nodeSelector: s.nodeSelector } : {}),
    containers: [
      {
        name: 'relay',
        image: s.image,
        imagePullPolicy: s.imagePullPolicy,
        args: ['relay', '--config', Paths.configFile],
        ports,
        volumeMounts: mounts,
        readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
        livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 6 },
        resources: s.resources ?? DEFAULT_RESOURCES,
        securityContext: CONTAINER_SECURITY,
      },
      ...filterSidecar(s),
    ],
    volumes: [...volumes, ...(s.filter?.sidecar ? FILTER_SIDECAR_VOLUMES : [])],
  };
}

const CONTAINER_SECURITY = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
} as const;

/** rspamd writes its databases and pid file; everything else stays read-only. */
const FILTER_SIDECAR_VOLUMES = [
  { name: 'rspamd-db', emptyDir: { sizeLimit: '512Mi' } },
  { name: 'rspamd-run', emptyDir: { sizeLimit: '16Mi' } },
];

/**
 * MailServer.spec.filter.sidecar: rspamd in the relay's pod, under the pod's non-root user and the same
 * restricted container security as the relay; the relay reaches it on 127.0.0.1:11333 (SIDECAR_FILTER_URL),
 * and the pod is not Ready until it answers /ping (until then the relay's filter step tempfails).
 */
function filterSidecar(s: MailServer['spec']): unknown[] {
  const sc = s.filter?.sidecar;
  if (!sc) return [];
  return [
    {
      name: 'rspamd',
      image: sc.image,
      imagePullPolicy: sc.imagePullPolicy,
      volumeMounts: [
        { name: 'rspamd-db', mountPath: '/var/lib/rspamd' },
        { name: 'rspamd-run', mountPath: '/run/rspamd' },
      ],
      readinessProbe: { httpGet: { path: '/ping', port: 11333 }, periodSeconds: 10 },
      resources: sc.resources ?? { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
      securityContext: CONTAINER_SECURITY,
    },
  ];
}

/**
 * The relay container's resources when spec.resources is unset. Measured in a pod on the local node
 * (bench/relay-pod.ts, the kubelet's working set; docs/operator.md, "The workload"): the seed's relay 76 MiB
 * idle, 91 MiB at most through bursts of 500 mails, 60–180m CPU; the request is that with ~40 % headroom.
 * The limit covers the heavier host benches (README "Figures": peak PSS 196–253 MB) twice over, and 91 MB
 * of heap for 100,000 table entries. No CPU limit: throttling adds SMTP latency.
 */
export const DEFAULT_RESOURCES = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } } as const;

/** The ServiceMonitor for the metrics Service, when spec.metrics.serviceMonitor.enabled (Prometheus Operator). */
export function serviceMonitor(server: MailServer): Manifest[] {
  const sm = server.spec.metrics?.serviceMonitor;
  if (!sm?.enabled) return [];
  const m = meta(server, `${server.metadata.name}-metrics`, 'metrics');
  return [
    finish(
      {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'ServiceMonitor',
        metadata: { ...m, labels: { ...sm.labels, ...m.labels } },
        spec: {
          selector: { matchLabels: { ...selectorLabels(server), [Labels.component]: 'metrics' } },
          endpoints: [{ port: 'metrics', path: '/metrics', ...(sm.interval ? { interval: sm.interval } : {}) }],
        },
      },
      true,
      server,
    ),
  ];
}

/** More than one relay: at most one of them taken down at a time by a voluntary disruption (policy/v1beta1, Kubernetes 1.20). */
export function disruptionBudget(server: MailServer): Manifest[] {
  if (server.spec.replicas <= 1) return [];
  return [
    finish(
      {
        apiVersion: 'policy/v1beta1',
        kind: 'PodDisruptionBudget',
        metadata: meta(server, server.metadata.name, 'relay'),
        spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(server) } },
      },
      true,
      server,
    ),
  ];
}

export function workload(g: ServerGroup, tableSlots: number): Manifest {
  const server = g.server;
  const spec = podSpec(g, tableSlots);
  const podHash = hashOf(spec);
  const template = { metadata: { labels: labels(server, 'relay'), annotations: { [Annotations.podHash]: podHash } }, spec };
  if (server.spec.replicas > 1) {
    return finish(
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: meta(server, server.metadata.name, 'relay'),
        spec: {
          replicas: server.spec.replicas,
          serviceName: `${server.metadata.name}-pods`,
          podManagementPolicy: 'Parallel',
          selector: { matchLabels: selectorLabels(server) },
          template,
          volumeClaimTemplates: (['queue', 'mail'] as const).map((which) => ({ metadata: { name: which, labels: labels(server, which) }, spec: volumeClaim(server, which) })),
        },
      },
      true,
      server,
    );
  }
  return finish(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(server, server.metadata.name, 'relay'),
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' }, // one writer per queue volume
        selector: { matchLabels: selectorLabels(server) },
        template,
      },
    },
    true,
    server,
  );
}
