import { InvalidGroupIdError, InvalidTopicNameError } from '../errors.ts'

// KafScale builds etcd keys by inserting names verbatim (contract §5): a "/" in a name nests
// keys under other topics or groups. These are the contract's safe rules, enforced before any
// key is built; the schemas carry the same patterns so MCP and REST callers learn them early.
export const TOPIC_NAME_PATTERN = '^(?!\\.\\.?$)[A-Za-z0-9._-]{1,249}$'
export const GROUP_ID_PATTERN = '^[^/]+$'

const topicName = new RegExp(TOPIC_NAME_PATTERN)
const groupId = new RegExp(GROUP_ID_PATTERN)

export function assertTopicName (name: string): void {
  if (!topicName.test(name)) throw new InvalidTopicNameError(JSON.stringify(name))
}

export function assertGroupId (id: string): void {
  if (!groupId.test(id)) throw new InvalidGroupIdError(JSON.stringify(id))
}
