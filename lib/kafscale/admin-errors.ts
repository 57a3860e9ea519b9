import { protocolErrors, protocolErrorsCodesById } from '@platformatic/kafka'
import { BrokerRefusedError, BrokerUnavailableError } from '../errors.ts'

/** Which broker answers: KafScale's (a subset of the admin API) or Apache Kafka's. */
export type BrokerFlavor = 'kafscale' | 'kafka'

export interface BrokerErrorContext {
  flavor: BrokerFlavor
  /** The admin client's client.id: KafScale's ACLs name it as the principal. */
  clientId: string
  /** The bootstrap brokers, for messages about availability. */
  brokers: string
}

export type BrokerRefusal = InstanceType<typeof BrokerRefusedError> & { kafkaCode: number }

interface Meaning {
  /** The HTTP status of the refusal, or 'transient' for a broker state that passes by itself. */
  status: 403 | 404 | 409 | 422 | 502 | 'transient'
  text: (context: BrokerErrorContext) => string
}

const notAuthorized = ({ flavor, clientId }: BrokerErrorContext): string => flavor === 'kafscale'
  ? `KafScale's ACLs do not let client.id ${clientId} do this: give that client.id a KafScale ACL allowing \`admin\` on \`cluster\``
  : `the broker's authorizer denied the principal of client.id ${clientId}: grant it the ACL this operation needs`

// Error codes from the Kafka protocol (org.apache.kafka.common.protocol.Errors), in words for the
// person who asked for the change, with what to do about them.
const MEANINGS: Record<number, Meaning> = {
  3: { status: 404, text: () => 'the topic (or partition) does not exist' },
  7: { status: 'transient', text: () => 'the broker did not finish the request in time; the change may still be applied: read the state back before retrying' },
  14: { status: 'transient', text: () => "the group's coordinator is still loading: retry in a few seconds" },
  15: { status: 'transient', text: () => 'no group coordinator is available yet: retry in a few seconds' },
  16: { status: 'transient', text: () => "the broker asked is no longer the group's coordinator: retry" },
  17: { status: 422, text: () => "the topic name is not valid: use 1 to 249 characters from a-z, A-Z, 0-9, '.', '_' and '-', other than '.' and '..'" },
  29: { status: 403, text: notAuthorized },
  30: { status: 403, text: notAuthorized },
  31: { status: 403, text: notAuthorized },
  35: { status: 502, text: () => 'the broker does not support this request or its version' },
  36: { status: 409, text: () => 'a topic of this name already exists' },
  37: { status: 422, text: () => 'the partition count is not valid: it must be at least 1, and partitions can be added but never removed' },
  38: { status: 422, text: () => 'the replication factor is not valid: it must be at least 1 and at most the number of brokers' },
  40: {
    status: 422,
    text: ({ flavor }) => flavor === 'kafscale'
      ? 'KafScale accepts only retention.ms, retention.bytes and segment.bytes'
      : 'a config name or value is not valid for a topic'
  },
  41: { status: 'transient', text: () => 'the broker asked is not the controller: retry' },
  42: { status: 422, text: () => 'the broker found the request malformed or not allowed' },
  44: { status: 422, text: () => "a policy on the broker refused the change: see the broker's create.topic.policy / alter.config.policy" },
  68: { status: 409, text: () => 'the group still has active members: stop its consumers first' },
  69: { status: 404, text: () => 'the group does not exist' },
  73: { status: 403, text: () => 'topic deletion is disabled on this broker (delete.topic.enable=false)' }
}

/** The error to throw for a non-zero Kafka error code in the answer to `action` ("create topic \"orders\""). */
export function brokerError (kafkaCode: number, serverMessage: string | null | undefined, action: string, context: BrokerErrorContext): Error {
  const name = protocolErrorsCodesById[kafkaCode] ?? 'UNKNOWN_SERVER_ERROR'
  const meaning = MEANINGS[kafkaCode]
  let text = meaning?.text(context) ?? (protocolErrors[name]?.message ?? 'an error this service does not know').replace(/\.$/, '')
  // The broker's own words often name the exact value at fault; they reach a client, so they are bounded.
  const said = serverMessage?.replace(/\p{Cc}/gu, ' ').trim().slice(0, 300)
  if (said !== undefined && said !== '') text += ` (the broker said: ${said})`
  if (meaning?.status === 'transient') {
    return new BrokerUnavailableError(context.brokers, `could not ${action}: ${text} (Kafka error ${kafkaCode} ${name})`)
  }
  const refusal = new BrokerRefusedError(action, text, kafkaCode, name) as BrokerRefusal
  refusal.statusCode = meaning?.status ?? 422
  refusal.kafkaCode = kafkaCode
  return refusal
}

/** The broker's ApiVersions lacks an API that `action` needs (`detail`: the client library's words). */
export function unsupportedApiError (action: string, detail: string): BrokerRefusal {
  const refusal = new BrokerRefusedError(action, `the broker does not support an API this needs (${detail.replace(/\.$/, '')})`, 35, 'UNSUPPORTED_VERSION') as BrokerRefusal
  refusal.statusCode = 502
  refusal.kafkaCode = 35
  return refusal
}

/** Whether `err` is the broker's refusal, with the given Kafka error code if one is given. */
export function isBrokerRefusal (err: unknown, kafkaCode?: number): err is BrokerRefusal {
  return err instanceof BrokerRefusedError && (kafkaCode === undefined || (err as BrokerRefusal).kafkaCode === kafkaCode)
}
