// 127.0.0.0/8, ::1 and IPv4-mapped loopback.
export function isLoopback(address: string): boolean {
  return /^(127\.|::1$|::ffff:127\.)/.test(address);
}
