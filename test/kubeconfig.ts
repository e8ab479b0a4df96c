// A KubeConfig for an API endpoint a unit test serves itself (token auth, its certificate not checked).
import { KubeConfig } from '@kubernetes/client-node';

export function kubeConfigAt(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}
