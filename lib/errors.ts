import { STATUS_CODES } from 'node:http'
import createError from '@fastify/error'

// Every error a caller can see is declared here once, with a stable code a client can match on.
// Tool errors reach MCP clients as `isError` results whose text is the message and whose
// `_meta["io.kafscale/error"]` carries the code; REST callers get Fastify's error JSON.

export const InvalidInputError = createError('KSMCP_ERR_INVALID_INPUT', 'invalid arguments: %s', 400)
export const InvalidTopicNameError = createError('KSMCP_ERR_INVALID_TOPIC_NAME', 'invalid topic name %s: a topic name is non-empty, well-formed Unicode', 400)
export const InvalidGroupIdError = createError('KSMCP_ERR_INVALID_GROUP_ID', 'invalid group id %s: a group id is non-empty, well-formed Unicode', 400)
export const GroupNotFoundError = createError('KSMCP_ERR_GROUP_NOT_FOUND', 'consumer group %s not found', 404)
// A well-formed node id the snapshot does not list: not found, like an unknown group.
export const UnknownBrokerError = createError('KSMCP_ERR_UNKNOWN_BROKER', '%s', 404)
export const UnknownToolError = createError('KSMCP_ERR_UNKNOWN_TOOL', 'unknown tool %s', 404)
export const UnknownSessionError = createError('KSMCP_ERR_UNKNOWN_SESSION', 'no open SSE session with this id: open GET /sse first', 404)
// 422: the question was understood but its answer is too big to send; the message says how to ask for less.
export const ResponseTooLargeError = createError<'KSMCP_ERR_RESPONSE_TOO_LARGE', 422, [tool: string, chars: number, cap: number, hint: string]>('KSMCP_ERR_RESPONSE_TOO_LARGE', 'the answer of %s is %d characters, over the %d-character cap (KAFSCALE_MCP_MAX_RESPONSE_CHARS): %s', 422)
export const InvalidMessageError = createError('KSMCP_ERR_INVALID_MESSAGE', 'not a JSON-RPC message (%s): POST one JSON-RPC 2.0 request, notification or response object', 400)
// The service's own fault: the message names what went wrong without internals (the log has them).
export const InternalError = createError('KSMCP_ERR_INTERNAL', '%s', 500)

export const StoreNotConfiguredError = createError('KSMCP_ERR_STORE_NOT_CONFIGURED', 'metadata store not configured: set KAFSCALE_MCP_ETCD_ENDPOINTS (or --etcd-endpoints)', 503)
export const SnapshotUnavailableError = createError('KSMCP_ERR_SNAPSHOT_UNAVAILABLE', 'cluster metadata snapshot not loaded yet: %s', 503)
export const EtcdUnavailableError = createError('KSMCP_ERR_ETCD_UNAVAILABLE', 'etcd unavailable: %s', 503)
export const EtcdTimeoutError = createError('KSMCP_ERR_ETCD_TIMEOUT', 'etcd did not answer within %d ms at %s', 504)
export const CorruptValueError = createError('KSMCP_ERR_CORRUPT_VALUE', 'corrupt value at etcd key %s: %s', 502)
export const EtcdTlsFileError = createError('KSMCP_ERR_ETCD_TLS_FILE', 'cannot read the etcd %s file %s: %s')
export const AmbiguousKeyError = createError('KSMCP_ERR_AMBIGUOUS_KEY', 'etcd key %s is ambiguous: it can be read as %s', 502)

// The Kafka admin API (lib/kafscale/admin.ts). A refusal is the broker's definite no, with the
// Kafka error code and name and what they mean; its statusCode follows the code (403, 404, 409,
// 422, 502). No answer means the broker replied without the item asked about (KafScale does so
// for an API or version it lacks). Unavailable: no connection, no reply in time, or a transient
// broker state — a write may then have been applied, so read the state back before retrying.
export const BrokerRefusedError = createError<'KSMCP_ERR_BROKER_REFUSED', number, [action: string, explanation: string, kafkaCode: number, kafkaName: string]>('KSMCP_ERR_BROKER_REFUSED', 'the broker refused to %s: %s (Kafka error %d %s)', 422)
export const BrokerNoAnswerError = createError<'KSMCP_ERR_BROKER_NO_ANSWER', 502, [item: string, api: string]>('KSMCP_ERR_BROKER_NO_ANSWER', 'the broker did not answer for %s: it may not support %s', 502)
export const BrokerUnavailableError = createError<'KSMCP_ERR_BROKER_UNAVAILABLE', 503, [brokers: string, reason: string]>('KSMCP_ERR_BROKER_UNAVAILABLE', 'Kafka brokers unavailable at %s: %s', 503)

export const MetricsNotConfiguredError = createError('KSMCP_ERR_METRICS_NOT_CONFIGURED', 'metrics provider not configured: set KAFSCALE_MCP_BROKER_METRICS_URL (or --broker-metrics-url)', 503)
export const MetricsRequestError = createError('KSMCP_ERR_METRICS_FAILED', 'metrics request failed: %s', 502)
export const MetricsTimeoutError = createError('KSMCP_ERR_METRICS_TIMEOUT', 'metrics request to %s did not answer within %d ms', 504)
export const OperatorMetricsNotConfiguredError = createError('KSMCP_ERR_OPERATOR_METRICS_NOT_CONFIGURED', 'operator metrics not configured: set KAFSCALE_MCP_OPERATOR_METRICS_URL (or --operator-metrics-url)', 503)

export const BrokerControlNotConfiguredError = createError('KSMCP_ERR_CONTROL_NOT_CONFIGURED', 'broker control plane not configured: set KAFSCALE_MCP_BROKER_CONTROL_PORT (or --broker-control-port) to the brokers\' control port, or list addresses in KAFSCALE_MCP_BROKER_CONTROL_ADDRS (--broker-control-addrs)', 503)
export const BrokerControlNoAddressError = createError<'KSMCP_ERR_CONTROL_NO_ADDRESS', 503, [nodeId: number, why: string]>('KSMCP_ERR_CONTROL_NO_ADDRESS', 'broker %d has no control-plane address (%s): name it in KAFSCALE_MCP_BROKER_CONTROL_ADDRS (--broker-control-addrs) as NODEID=host:port', 503)
export const BrokerControlUnavailableError = createError<'KSMCP_ERR_CONTROL_UNAVAILABLE', 503, [nodeId: number, address: string, why: string]>('KSMCP_ERR_CONTROL_UNAVAILABLE', 'broker %d (%s) control plane unavailable: %s', 503)
// 501: the broker answered, and said it has no such call yet (today's brokers for drain and flush).
export const ControlNotImplementedError = createError<'KSMCP_ERR_CONTROL_NOT_IMPLEMENTED', 501, [nodeId: number, address: string, method: string]>('KSMCP_ERR_CONTROL_NOT_IMPLEMENTED', 'broker %d (%s) does not implement %s yet', 501)
export const BrokerControlFailedError = createError<'KSMCP_ERR_CONTROL_FAILED', 502, [nodeId: number, address: string, method: string, why: string]>('KSMCP_ERR_CONTROL_FAILED', 'broker %d (%s) %s failed: %s', 502)
// A change sent to several brokers that some made and some did not: the message says which.
export const ControlPartlyAppliedError = createError<'KSMCP_ERR_CONTROL_PARTIAL', 502, [method: string, outcome: string]>('KSMCP_ERR_CONTROL_PARTIAL', '%s reached only some brokers: %s', 502)

export const UnauthorizedError = createError('KSMCP_ERR_UNAUTHORIZED', 'unauthorized: %s', 401)
export const ForbiddenError = createError('KSMCP_ERR_FORBIDDEN', 'forbidden: %s', 403)
export const InsufficientScopeError = createError('KSMCP_ERR_INSUFFICIENT_SCOPE', 'insufficient scope: %s', 403)
// Static-token mode answers a client that tries to register for OAuth (RFC 7591) with what to send instead.
export const OAuthNotOfferedError = createError('KSMCP_ERR_NO_OAUTH', 'no OAuth client registration here: %s', 400)
export const AuthUnavailableError = createError('KSMCP_ERR_AUTH_UNAVAILABLE', 'cannot verify the token now: %s', 503)
export const AuditUnavailableError = createError('KSMCP_ERR_AUDIT_UNAVAILABLE', 'the audit log cannot be written, so the result is withheld', 503)
export const TooManyConcurrentError = createError('KSMCP_ERR_TOO_MANY_CONCURRENT', 'too many concurrent requests: at most %d at once per caller', 429)
export const RateLimitedError = createError('KSMCP_ERR_RATE_LIMITED', 'rate limit exceeded: at most %d requests per %s per caller; the window resets in %d s', 429)
export const TooManyStreamsError = createError('KSMCP_ERR_TOO_MANY_STREAMS', 'too many open streams: at most %d at once per caller; close an SSE session or subscription first', 429)
export const StreamsExhaustedError = createError('KSMCP_ERR_STREAMS_EXHAUSTED', 'the server already holds its maximum of %d open streams; retry later', 503)
export const ForbiddenHostError = createError('KSMCP_ERR_FORBIDDEN_HOST', 'forbidden: this server does not answer to host %s (DNS-rebinding protection); list it in KAFSCALE_MCP_ALLOWED_HOSTS (--allowed-hosts)', 403)
export const ForbiddenOriginError = createError('KSMCP_ERR_FORBIDDEN_ORIGIN', 'forbidden: browser origin %s is not allowed; list its hostname in KAFSCALE_MCP_ALLOWED_ORIGINS (--allowed-origins)', 403)
export const BadHostError = createError('KSMCP_ERR_BAD_HOST', 'ambiguous host: %s', 400)
export const BodyTooLargeError = createError('KSMCP_ERR_BODY_TOO_LARGE', 'the body is larger than the %d bytes the largest valid input of %s needs', 413)
export const JsonTooDeepError = createError('KSMCP_ERR_JSON_TOO_DEEP', 'the JSON body nests deeper than %d levels: no valid request needs that many', 400)
export const UnsupportedMediaTypeError = createError('KSMCP_ERR_UNSUPPORTED_MEDIA_TYPE', 'unsupported content type %s: send the body as application/json', 415)
export const MethodNotAllowedError = createError('KSMCP_ERR_METHOD_NOT_ALLOWED', '%s is not served on %s: use %s', 405)
// A question for the caller's user (a human's yes before a change): MCP clients ask and call again.
export const UserInputRequiredError = createError('KSMCP_ERR_INPUT_REQUIRED', 'the user must answer first: %s', 428)
export const CannotAskUserError = createError('KSMCP_ERR_CANNOT_ASK_USER', 'this needs an answer from the user, and this client cannot ask its user (use an MCP client of protocol 2026-07-28, or one with elicitation over a session): %s', 428)
export const ConfigError = createError('KSMCP_ERR_CONFIG', 'invalid configuration: %s')
export const PluginLoadError = createError('KSMCP_ERR_PLUGIN_LOAD', 'cannot load tool plugin %s: %s')
// A plugin registered with options it cannot work with (lib/config/checks.ts words the problems).
export const ToolDefinitionError = createError('KSMCP_ERR_TOOL_DEFINITION', 'tool %s %s')
export const UngatedTransportError = createError('KSMCP_ERR_UNGATED_TRANSPORT', '%s: register it inside the scope of the gate plugin (plugins/gate.ts)')
export const PluginOptionsError = createError('KSMCP_ERR_PLUGIN_OPTIONS', 'invalid options for %s: %s')

/** The JSON body of every error answer: Fastify's own shape, so callers match on `code`. */
export function errorBody (err: { code: string, statusCode?: number, message: string }): { statusCode: number, code: string, error: string, message: string } {
  const statusCode = err.statusCode ?? 500
  return { statusCode, code: err.code, error: STATUS_CODES[statusCode] ?? 'Error', message: err.message }
}

export interface CodedError extends Error {
  code: string
  statusCode?: number
}

export function isCodedError (err: unknown): err is CodedError {
  return err instanceof Error && typeof (err as CodedError).code === 'string' && (err as CodedError).code.startsWith('KSMCP_ERR_')
}

// The guarded mutation path (core/mutation.ts): each refusal says why and what to do instead.
export const MutationsNotConfiguredError = createError('KSMCP_ERR_MUTATIONS_CONFIG', 'mutation tools cannot be enabled: %s')
export const PlanRequiredError = createError('KSMCP_ERR_PLAN_REQUIRED', 'dry_run: false needs the plan_token of a dry run: call %s with the same arguments and dry_run: true (the default) first', 400)
export const PlanRefusedError = createError('KSMCP_ERR_PLAN_REFUSED', 'the plan_token is refused: %s; make a new plan (dry_run: true)', 409)
export const StateChangedError = createError('KSMCP_ERR_STATE_CHANGED', 'the state of %s changed since the plan was made (%s): nothing was changed; make a new plan (dry_run: true) and review it', 409)
export const PlanBlockedError = createError('KSMCP_ERR_PLAN_BLOCKED', 'the plan cannot be applied: %s', 422)
export const ApprovalRequiredError = createError('KSMCP_ERR_APPROVAL_REQUIRED', '%s', 403)
export const ApprovalRefusedError = createError('KSMCP_ERR_APPROVAL_REFUSED', 'the approval is refused: %s', 403)
export const ConfirmationRequiredError = createError('KSMCP_ERR_CONFIRMATION_REQUIRED', '%s needs a human\'s confirmation, and this client cannot ask its user: ask a second principal with an approver role to call approve_plan with this plan_token, then call again with its approval', 403)
export const DeclinedError = createError('KSMCP_ERR_DECLINED', 'the user did not confirm %s: nothing was changed', 409)
export const SelfApprovalError = createError('KSMCP_ERR_SELF_APPROVAL', 'you made this plan (%s): a different principal must approve it', 403)
