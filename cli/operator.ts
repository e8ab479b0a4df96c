// `kubemta operator`: runs the controller. In a pod it uses the ServiceAccount; elsewhere $KUBECONFIG.
import { parseArgs } from 'node:util';
import { createLogger } from '../relay/ops/log.ts';
import { KubeClient } from '../operator/kube/client.ts';
import { Manager } from '../operator/controllers/manager.ts';

export async function operatorCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', short: 'n', description: 'watch only this namespace (default: all)' },
      'leader-election-namespace': { type: 'string' },
      'lease-name': { type: 'string', default: 'kubemta-operator' },
      'no-leader-election': { type: 'boolean', default: false },
      'no-relay-check': { type: 'boolean', default: false, description: 'Ready once the config is applied, without waiting for the relays to serve it (no node)' },
      'http-address': { type: 'string', default: '0.0.0.0' },
      'http-port': { type: 'string', default: '8080' },
      'log-level': { type: 'string', default: 'info' },
    },
  });
  const log = createLogger(values['log-level']!).child({ component: 'operator' });
  const client = await KubeClient.fromEnvironment(values.kubeconfig ?? process.env.KUBECONFIG);
  const leNs = values['leader-election-namespace'] ?? process.env.POD_NAMESPACE ?? values.namespace ?? 'default';
  const manager = new Manager({
    client,
    log,
    namespace: values.namespace,
    leaderElection: values['no-leader-election'] ? false : { namespace: leNs, name: values['lease-name']!, identity: process.env.POD_NAME },
    httpPort: Number(values['http-port']),
    httpAddress: values['http-address'],
    relayCheck: !values['no-relay-check'],
  });
  await manager.start();
  log.info({ port: manager.port }, 'operator running; /metrics and /healthz served');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  log.info('stopping');
  await manager.stop();
  return 0;
}
