import { InvalidGroupIdError, InvalidTopicNameError } from '../errors.ts'

// KafScale's broker creates any non-empty topic name and group id (spaces, ":", "ü", "/", "..")
// and inserts it into etcd keys verbatim (contract §5.1), so every such name is served. What a
// key needs is a non-empty, well-formed name: a lone surrogate is sent to etcd as U+FFFD and
// would read the keys of another name. Keys stay unambiguous because lib/kafscale/keys.ts
// reads them by their known shape, not because names are restricted. The length bounds are
// input limits (the schemas carry them), not key rules: names read from etcd may be longer.

/** Kafka's own limit, which KafScale's topics keep. */
export const TOPIC_NAME_MAX_LENGTH = 249
/**
 * The longest id the Kafka protocol's int16-length STRING carries (FindCoordinator, JoinGroup
 * and OffsetCommit in their classic versions): every group a Kafka client can create fits, and
 * its key stays a small etcd request (etcd refuses requests over 1.5 MiB).
 */
export const GROUP_ID_MAX_LENGTH = 32767

// Under the "u" flag (Ajv, TypeBox) a surrogate pair is one code point outside this class.
export const KEY_NAME_PATTERN = '^[^\\uD800-\\uDFFF]+$'

function isKeyName (text: string): boolean {
  return text !== '' && text.isWellFormed()
}

export function assertTopicName (name: string): void {
  if (!isKeyName(name)) throw new InvalidTopicNameError(quote(name))
}

export function assertGroupId (id: string): void {
  if (!isKeyName(id)) throw new InvalidGroupIdError(quote(id))
}

function quote (name: string): string {
  return JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name)
}
