// The `restricted` Pod Security Standard (https://kubernetes.io/docs/concepts/security/pod-security-standards/,
// baseline + restricted controls as of v1.30) as a check on pod specs, plus kubemta's own rule that the root
// filesystem is read-only. Kubernetes 1.20 (the local cluster) has no Pod Security admission, so the tests
// judge every pod the chart and the operator create with this instead: the chart's Deployment, the relay's
// Deployment/StatefulSet from render(), and the live pods in the e2e tier.

interface Container {
  name: string;
  ports?: { hostPort?: number }[];
  securityContext?: SecurityContext;
}
interface SecurityContext {
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  procMount?: string;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type?: string };
  appArmorProfile?: { type?: string };
  seLinuxOptions?: { type?: string; user?: string; role?: string };
  windowsOptions?: { hostProcess?: boolean };
  sysctls?: { name: string }[];
}
export interface PodSpecLike {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext?: SecurityContext;
  containers: Container[];
  initContainers?: Container[];
  ephemeralContainers?: Container[];
  volumes?: Record<string, unknown>[];
}
export interface PodTemplateLike {
  metadata?: { annotations?: Record<string, string> };
  spec: PodSpecLike;
}

const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes',
]);
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const seccompOk = (t: string | undefined) => t === 'RuntimeDefault' || t === 'Localhost';

/** What keeps a pod from the `restricted` profile (empty: it passes), each naming the field. */
export function restrictedViolations(pod: PodTemplateLike): string[] {
  const v: string[] = [];
  const spec = pod.spec;
  const psc = spec.securityContext ?? {};
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (spec[f]) v.push(`spec.${f}: true`);
  if (psc.windowsOptions?.hostProcess) v.push('spec.securityContext.windowsOptions.hostProcess: true');
  for (const s of psc.sysctls ?? []) if (!SAFE_SYSCTLS.has(s.name)) v.push(`spec.securityContext.sysctls: ${s.name} is not a safe sysctl`);
  if (psc.runAsUser === 0) v.push('spec.securityContext.runAsUser: 0');
  if (psc.runAsNonRoot === false) v.push('spec.securityContext.runAsNonRoot: false');
  if (psc.seccompProfile?.type !== undefined && !seccompOk(psc.seccompProfile.type)) v.push(`spec.securityContext.seccompProfile.type: ${psc.seccompProfile.type}`);
  selinux(psc, 'spec.securityContext', v);
  for (const vol of spec.volumes ?? []) {
    const type = Object.keys(vol).find((k) => k !== 'name');
    if (!type || !RESTRICTED_VOLUMES.has(type)) v.push(`spec.volumes[${String(vol.name)}]: ${type} volumes are not allowed`);
  }
  for (const [k, val] of Object.entries(pod.metadata?.annotations ?? {})) {
    if (k.startsWith('container.apparmor.security.beta.kubernetes.io/') && val !== 'runtime/default' && !val.startsWith('localhost/')) {
      v.push(`metadata.annotations[${k}]: ${val}`);
    }
  }
  const all = [
    ...spec.containers.map((c) => ['containers', c] as const),
    ...(spec.initContainers ?? []).map((c) => ['initContainers', c] as const),
    ...(spec.ephemeralContainers ?? []).map((c) => ['ephemeralContainers', c] as const),
  ];
  for (const [list, c] of all) {
    const at = `spec.${list}[${c.name}]`;
    const sc = c.securityContext ?? {};
    if (sc.privileged) v.push(`${at}.securityContext.privileged: true`);
    if (sc.windowsOptions?.hostProcess) v.push(`${at}.securityContext.windowsOptions.hostProcess: true`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') v.push(`${at}.securityContext.procMount: ${sc.procMount}`);
    for (const p of c.ports ?? []) if (p.hostPort) v.push(`${at}.ports: hostPort ${p.hostPort}`);
    if (sc.appArmorProfile?.type !== undefined && sc.appArmorProfile.type !== 'RuntimeDefault' && sc.appArmorProfile.type !== 'Localhost') {
      v.push(`${at}.securityContext.appArmorProfile.type: ${sc.appArmorProfile.type}`);
    }
    selinux(sc, `${at}.securityContext`, v);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${at}.securityContext.allowPrivilegeEscalation must be false`);
    if (sc.runAsNonRoot === false || (sc.runAsNonRoot !== true && psc.runAsNonRoot !== true)) v.push(`${at}: runAsNonRoot must be true (pod or container)`);
    if (sc.runAsUser === 0) v.push(`${at}.securityContext.runAsUser: 0`);
    const sec = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
    if (!seccompOk(sec)) v.push(`${at}: seccompProfile.type must be RuntimeDefault or Localhost (pod or container), is ${sec ?? 'unset'}`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) v.push(`${at}.securityContext.capabilities.drop must include ALL`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') v.push(`${at}.securityContext.capabilities.add: ${cap}`);
  }
  return v;
}

function selinux(sc: SecurityContext, at: string, v: string[]): void {
  const o = sc.seLinuxOptions;
  if (!o) return;
  if (!SELINUX_TYPES.has(o.type ?? '')) v.push(`${at}.seLinuxOptions.type: ${o.type}`);
  if (o.user) v.push(`${at}.seLinuxOptions.user is set`);
  if (o.role) v.push(`${at}.seLinuxOptions.role is set`);
}

/** kubemta's rule beyond `restricted`: nothing but volumes is writable (readOnlyRootFilesystem on every container). */
export function kubemtaViolations(pod: PodTemplateLike): string[] {
  const all = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  return all.filter((c) => c.securityContext?.readOnlyRootFilesystem !== true).map((c) => `spec.containers[${c.name}].securityContext.readOnlyRootFilesystem must be true`);
}

/** The pod templates in a list of manifests (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob). */
export function podTemplates(manifests: unknown[]): { name: string; pod: PodTemplateLike }[] {
  const out: { name: string; pod: PodTemplateLike }[] = [];
  for (const m of manifests as { kind?: string; metadata?: { name?: string }; spec?: Record<string, unknown> }[]) {
    if (!m || typeof m !== 'object' || !m.kind) continue;
    const name = `${m.kind}/${m.metadata?.name}`;
    if (m.kind === 'Pod') out.push({ name, pod: m as unknown as PodTemplateLike });
    else if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(m.kind)) out.push({ name, pod: m.spec!.template as PodTemplateLike });
    else if (m.kind === 'CronJob') out.push({ name, pod: (m.spec!.jobTemplate as { spec: { template: PodTemplateLike } }).spec.template });
  }
  return out;
}
