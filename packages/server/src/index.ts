/**
 * @spindle/server — Spindle over HTTP: the REST API (`/api/v1`, OpenAPI at `/openapi.json`,
 * docs at `/docs`), live push (SSE, WebSocket), the HTTP worker protocol, API keys, metrics
 * and health checks.
 *
 * @example
 * const client = await Client.open({ backend: new SqliteBackend({ path: 'spindle.db' }) });
 * const server = new SpindleServer(client, { port: 7700 });
 * console.log(await server.start()); // http://127.0.0.1:7700
 */
export { SpindleServer } from './server.js';
export { API_PREFIX, type App } from './app.js';
export { type ServerOptions, type ResolvedServerOptions, MAX_BODY_LIMIT, MAX_BATCH, MAX_CLAIM_BATCH, MAX_CLAIM_WAIT_MS } from './options.js';
export { readAlertsFile, resolveAlerts, describeRule, ALERT_KINDS, BUILTIN_RULE_NAME, type AlertsOptions, type AlertRuleInput, type AlertRule, type AlertKind, type ResolvedAlerts } from './alerts/rules.js';
export { evaluateRules, failureRates, type AlertInputs, type AlertTransition, type RuleQueueState } from './alerts/evaluate.js';
export { type WireEvent, type EventFilter, EventLog } from './push/event-log.js';
export { SPINDLE_VERSION } from './version.js';
export { generateApiKey, hashSecret, ACTIONS, ROLES, type Action, type ApiKeyRecord, type Scope } from './auth/api-keys.js';
export { KeyStore, type AuthOptions, type KeyRecordInput } from './auth/key-store.js';
export { DEFAULT_RATE_LIMIT, type RateLimitOptions } from './http/rate-limit.js';
