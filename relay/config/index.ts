// relay/config's public entry: what code outside the relay (the operator, the CLI) may use of the relay's
// configuration. The operator renders configs against this schema and validates with these functions.
export { ConfigError, loadConfig, schemaProblems, validateConfig, type LoadedConfig } from './load.ts';
export { crossCheck } from './check.ts';
export { ConfigSchema, TableSchema, type Config } from './schema.ts';
export * from './vocabulary.ts';
// the polite client's settings, the same fields in MailServer.spec.outbound
export { concurrencySchema, maxMessagesPerConnectionSchema, retrySchema } from './outbound-schema.ts';
export { ListenerRatesSchema, ServerRatesOverrideSchema } from './rates-schema.ts';
